import { pino, type Logger, type DestinationStream } from 'pino';
import { redactCredentials } from './redact.js';
import { TenantLogCap, type TenantLogLimits } from './tenant-log-cap.js';

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
  /** Cap each tenant's log volume (lines carrying its tenant_id) per interval; no cap when omitted. */
  tenantCap?: TenantLogLimits;
}

/** The host's root logger: JSON lines, secrets and credentials redacted. Tenant work logs through child loggers. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const dest = (opts.destination ?? pino.destination({ dest: 2, sync: true })) as DestinationStream;
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
    opts.tenantCap ? new TenantLogCap(dest, opts.tenantCap) : dest,
  );
}

/** The per-tenant cap of a logger made by createLogger (children share it), if it has one. */
export function tenantLogCapOf(logger: Logger): TenantLogCap | undefined {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  return stream instanceof TenantLogCap ? stream : undefined;
}

/**
 * The cap `serve` applies: GREENTIC_LOG_TENANT_LINES lines (default 1000) and
 * GREENTIC_LOG_TENANT_BYTES bytes (default 524288) per tenant per 10 s; 0 turns that part off.
 * A value that is not a whole number is an error naming the variable.
 */
export function tenantCapFromEnv(env: NodeJS.ProcessEnv = process.env): TenantLogLimits {
  const read = (name: string, dflt: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    if (!/^\d{1,12}$/.test(raw)) throw new RangeError(`${name} must be a whole number (0 for no cap), got ${JSON.stringify(raw.slice(0, 40))}`);
    return Number(raw) === 0 ? Number.MAX_SAFE_INTEGER : Number(raw);
  };
  return { lines: read('GREENTIC_LOG_TENANT_LINES', 1000), bytes: read('GREENTIC_LOG_TENANT_BYTES', 512 * 1024), intervalMs: 10_000 };
}

/** The fields every log line of tenant work carries. */
export interface ScopeLogFields {
  tenant_id: string;
  env_id: string;
  team_id?: string | undefined;
  session_id?: string | undefined;
  trace_id?: string | undefined;
}
