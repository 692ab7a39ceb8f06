import { pino, type Logger, type DestinationStream } from 'pino';
import { redactCredentials } from './redact.js';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear in the logged object. */
export const REDACT_PATHS = [
  'secret',
  'value',
  'token',
  'password',
  'authorization',
  '*.secret',
  '*.value',
  '*.token',
  '*.password',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerOptions {
  level?: string;
  /** Where lines go; stderr when omitted (stdout is for command output). */
  destination?: DestinationStream | NodeJS.WritableStream;
}

/** The host's root logger: JSON lines, secrets and credentials redacted. Tenant work logs through child loggers. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'greentic-host' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Credentials inside text (a NATS URL with a password, a token in an error) are redacted in
      // the finished line: message, fields and child bindings alike, whatever key they are under.
      hooks: { streamWrite: (line) => redactCredentials(line) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (opts.destination ?? pino.destination({ dest: 2, sync: true })) as DestinationStream,
  );
}

/** The fields every log line of tenant work carries. */
export interface ScopeLogFields {
  tenant_id: string;
  env_id: string;
  team_id?: string | undefined;
  session_id?: string | undefined;
  trace_id?: string | undefined;
}
