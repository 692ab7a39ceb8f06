import { stringArgument } from '../arguments.js';
import type { InvocationScope } from '../scope.js';

/** Longest log message kept; the rest is cut off with a marker. */
export const MAX_LOG_MESSAGE = 8 * 1024;

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error']);

/**
 * The `log` import slice: a line in the host log tagged with the bound scope (tenant_id,
 * env_id, team_id, session_id, trace_id) and the component, never with anything the guest claims.
 *
 * Lines count against the call's and the turn's log budgets (limits.max_log_lines, max_log_bytes,
 * max_turn_log_lines, max_turn_log_bytes), shared with the guest's stdout and stderr.
 *
 * Guest errors: access-denied (ctx differs; manifest lacks log), invalid-argument (bad level),
 * limit-exceeded (a log budget is spent).
 */
export function logImports(scope: InvocationScope) {
  return {
    write(ctx: unknown, level: unknown, message: unknown): void {
      scope.enter('log', 'write', ctx);
      if (!scope.permissions.log) scope.deny('log', 'write', `component "${scope.permissions.component}" may not log (manifest capabilities.log is false)`);
      if (typeof level !== 'string' || !LEVELS.has(level))
        throw scope.error('invalid-argument', 'log', 'write', 'level must be one of trace, debug, info, warn, error');
      let text = stringArgument(scope, 'log', 'write', 'message', message);
      if (text.length > MAX_LOG_MESSAGE) text = `${text.slice(0, MAX_LOG_MESSAGE)}... [cut at ${MAX_LOG_MESSAGE} characters]`;
      const spent = scope.guestLog(level as 'info', { event: 'guest-log' }, text);
      if (spent !== undefined) throw scope.error('limit-exceeded', 'log', 'write', `the log budget of ${spent} is spent`);
    },
  };
}
