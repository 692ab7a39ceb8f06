// What every command shares before it runs and when it ends, kept light: `main` loads a
// command's module (and the failure classifier with its error classes) only when it needs it.

/**
 * Exit codes of every command: 0 done, 1 an expected failure (bad config, a key, a file, a
 * refused call: the message says what to fix), 2 bad usage (flags, ids, environment
 * variables), 70 an internal error (a bug: rerun with --debug for the stack, and report it).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 70 } as const;

/** Levels pino knows; GREENTIC_LOG_LEVEL must be one. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A problem with the environment variables every command reads, before any command runs. */
export function environmentProblem(env: NodeJS.ProcessEnv): string | undefined {
  const level = env.GREENTIC_LOG_LEVEL;
  if (level !== undefined && level !== '' && !(LOG_LEVELS as readonly string[]).includes(level)) {
    return `GREENTIC_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level.slice(0, 40))}`;
  }
  return undefined;
}
