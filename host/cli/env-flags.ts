/**
 * Environment equivalents of the main flags: GREENTIC_BUNDLE (--bundle), GREENTIC_DATA
 * (--data), GREENTIC_PORT (--port), GREENTIC_NATS_URL (--nats). A flag on the command line wins;
 * an unset or empty variable is ignored; a variable is used only by the commands that take its
 * flag. Each value is checked here, so a bad one is an error naming the variable, not the flag.
 */

interface EnvFlag {
  readonly env: string;
  readonly flag: string;
  readonly commands: ReadonlySet<string>;
  /** Why the value is unusable, or null. */
  readonly problem: (value: string) => string | null;
}

const path = (value: string) => (/[\0\n]/.test(value) ? 'must be a path' : null);

export const ENV_FLAGS: readonly EnvFlag[] = [
  { env: 'GREENTIC_BUNDLE', flag: 'bundle', commands: new Set(['serve', 'dev', 'send', 'validate', 'token']), problem: path },
  { env: 'GREENTIC_DATA', flag: 'data', commands: new Set(['serve', 'dev', 'send', 'call', 'secrets', 'token']), problem: path },
  {
    env: 'GREENTIC_PORT',
    flag: 'port',
    commands: new Set(['serve', 'dev']),
    problem: (v) => (/^\d{1,5}$/.test(v) && Number(v) <= 65_535 ? null : 'must be a port number from 0 to 65535'),
  },
  {
    env: 'GREENTIC_NATS_URL',
    flag: 'nats',
    commands: new Set(['serve', 'send', 'secrets', 'token', 'nats']),
    problem: (v) => (/^(nats|tls):\/\/\S+$/.test(v) ? null : 'must be a URL like nats://127.0.0.1:4222'),
  },
];

/** Whether `args` already give `--flag` (as `--flag V` or `--flag=V`), before a `--` that ends the flags. */
function hasFlag(args: readonly string[], flag: string): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === `--${flag}` || a.startsWith(`--${flag}=`)) return true;
  }
  return false;
}

/**
 * `args` of `command` with the flags its environment variables stand for added (at the end,
 * before a `--`), or a problem naming the variable. `--help` is left alone.
 */
export function withEnvFlags(command: string, args: readonly string[], env: NodeJS.ProcessEnv): { args: string[] } | { problem: string } {
  if (args.includes('--help') || args.includes('-h')) return { args: [...args] };
  const added: string[] = [];
  for (const f of ENV_FLAGS) {
    const value = env[f.env];
    if (value === undefined || value === '' || !f.commands.has(command) || hasFlag(args, f.flag)) continue;
    // serve --config names its bundle and data in the file: the variables do not override it.
    if (command === 'serve' && (f.flag === 'bundle' || f.flag === 'data') && hasFlag(args, 'config')) continue;
    const why = f.problem(value);
    if (why) return { problem: `${f.env} ${why}, got ${JSON.stringify(value.replace(/\/\/[^@/]*@/, '//[redacted]@').slice(0, 80))}` };
    added.push(`--${f.flag}=${value}`);
  }
  const end = args.indexOf('--');
  return { args: end === -1 ? [...args, ...added] : [...args.slice(0, end), ...added, ...args.slice(end)] };
}
