import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactCredentials } from '../observability/redact.js';
import { PACKAGE_ROOT } from '../paths.js';
import { completionCommand, COMPLETION_HELP } from './completion.js';
import { withEnvFlags } from './env-flags.js';
import { environmentProblem, EXIT } from './exit.js';
import type { CommandIo } from './usage.js';

/** A command's entry point and help text, from its module. */
interface LoadedCommand {
  readonly run: (argv: string[], io: CommandIo) => Promise<number>;
  readonly help: string;
}

/** A command as the table knows it: its module is loaded only when it runs (a CLI start reads one command's code, not all). */
interface CommandEntry {
  readonly load: () => Promise<LoadedCommand>;
  readonly summary: string;
}

const lazy = <M>(load: () => Promise<M>, pick: (m: M) => LoadedCommand, summary: string): CommandEntry => ({ load: async () => pick(await load()), summary });

const COMMANDS: Record<string, CommandEntry> = {
  serve: lazy(
    () => import('./serve.js'),
    (m) => ({ run: m.serveCommand, help: m.SERVE_HELP }),
    'run the host: flows on the embedded bus, webchat over HTTP',
  ),
  dev: lazy(
    () => import('./dev.js'),
    (m) => ({ run: m.devCommand, help: m.DEV_HELP }),
    'the dev loop: serve a bundle, rebuild and reload what changes',
  ),
  send: lazy(
    () => import('./send.js'),
    (m) => ({ run: m.sendCommand, help: m.SEND_HELP }),
    'send one message to a channel and print the replies',
  ),
  call: lazy(
    () => import('./call.js'),
    (m) => ({ run: m.callCommand, help: m.CALL_HELP }),
    'run one component once under a scope (for plugin authors)',
  ),
  describe: lazy(
    () => import('./describe.js'),
    (m) => ({ run: m.describeCommand, help: m.DESCRIBE_HELP }),
    "print a Greentic component's descriptor (its ops and schemas)",
  ),
  component: lazy(
    () => import('./component.js'),
    (m) => ({ run: m.componentCommand, help: m.COMPONENT_HELP }),
    'scaffold and build your own components (for plugin authors)',
  ),
  pack: lazy(
    () => import('./pack.js'),
    (m) => ({ run: m.packCommand, help: m.PACK_HELP }),
    'inspect or verify a Greentic pack (.gtpack): its components, flows and requests',
  ),
  validate: lazy(
    () => import('./validate.js'),
    (m) => ({ run: m.validateCommand, help: m.VALIDATE_HELP }),
    'check a bundle and report every problem with file and path',
  ),
  reload: lazy(
    () => import('./reload.js'),
    (m) => ({ run: m.reloadCommand, help: m.RELOAD_HELP }),
    'make a running serve reload a tenant, or its whole bundle',
  ),
  secrets: lazy(
    () => import('./secrets.js'),
    (m) => ({ run: m.secretsCommand, help: m.SECRETS_HELP }),
    'set, list or delete encrypted secrets',
  ),
  token: lazy(
    () => import('./token.js'),
    (m) => ({ run: m.tokenCommand, help: m.TOKEN_HELP }),
    'mint a REST API token for a tenant from its configured key',
  ),
  dlq: lazy(
    () => import('./dlq.js'),
    (m) => ({ run: m.dlqCommand, help: m.DLQ_HELP }),
    "list, show, replay or delete a tenant's dead letters",
  ),
  nats: lazy(
    () => import('./nats.js'),
    (m) => ({ run: m.natsCommand, help: m.NATS_HELP }),
    'NATS deployments: migrate from the shared streams of earlier versions',
  ),
  data: lazy(
    () => import('./data.js'),
    (m) => ({ run: m.dataCommand, help: m.DATA_HELP }),
    "export or erase a user's, session's, environment's or tenant's stored data",
  ),
  completion: {
    // Reads the table when it runs, so the script covers every command, itself included.
    load: async () => ({
      run: async (argv, io) =>
        completionCommand(
          argv,
          io,
          await Promise.all(
            Object.entries(COMMANDS).map(async ([name, c]) => ({ name, help: name === 'completion' ? COMPLETION_HELP : (await c.load()).help })),
          ),
        ),
      help: COMPLETION_HELP,
    }),
    summary: 'print a shell completion script (bash, zsh or fish)',
  },
};

export const MAIN_HELP = `Usage: greentic-host COMMAND [options]

A multi-tenant host for conversational flows whose nodes are sandboxed WebAssembly components.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run greentic-host COMMAND --help for a command's options.

Environment: GREENTIC_BUNDLE, GREENTIC_DATA, GREENTIC_PORT and GREENTIC_NATS_URL stand for
--bundle, --data, --port and --nats where a command takes them (a flag given wins).

Global options (before or after the command):
  --debug          on an error, also print its stack (or set GREENTIC_DEBUG=1)
  -V, --version    print the version

Exit codes: 0 done, 1 failed (the message says what to fix), 2 bad usage (a flag, an id or an
environment variable), 70 an internal error (a bug: rerun with --debug and report it).`;

/** "greentic-host 0.1.0 (Node.js v20.20.2)". */
export function versionLine(): string {
  const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return `greentic-host ${version} (Node.js ${process.version})`;
}

/** Take the global flags out of argv (up to a "--", after which everything is a command's argument). */
function globalFlags(argv: readonly string[]): { args: string[]; debug: boolean } {
  const end = argv.indexOf('--');
  const head = end === -1 ? argv : argv.slice(0, end);
  const tail = end === -1 ? [] : argv.slice(end);
  return { args: [...head.filter((a) => a !== '--debug'), ...tail], debug: head.includes('--debug') };
}

const defaultIo: CommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  stdin: process.stdin,
};

/** Run the CLI; returns the exit code (EXIT: 0 ok, 1 failed, 2 bad usage, 70 internal error). */
export async function main(argv: string[], io: CommandIo = defaultIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { args, debug: debugFlag } = globalFlags(argv);
  const debug = debugFlag || env.GREENTIC_DEBUG === '1';
  const [command, ...rest] = args;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(MAIN_HELP);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    io.out(versionLine());
    return EXIT.ok;
  }
  // Own keys only: "constructor" or "__proto__" is an unknown command, not Object.prototype's.
  const cmd = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!cmd) {
    io.err(`greentic-host: unknown command ${JSON.stringify(command.slice(0, 40))} (commands: ${Object.keys(COMMANDS).join(', ')})`);
    return EXIT.usage;
  }
  const problem = environmentProblem(env);
  if (problem) {
    io.err(`greentic-host ${command}: ${problem}`);
    return EXIT.usage;
  }
  const withEnv = withEnvFlags(command, rest, env);
  if ('problem' in withEnv) {
    io.err(`greentic-host ${command}: ${redactCredentials(withEnv.problem)}`);
    return EXIT.usage;
  }
  // Whatever a command prints on failure goes out with credentials redacted (a --nats URL's password).
  const safe: CommandIo = { ...io, err: (line) => io.err(redactCredentials(line)) };
  try {
    const { run } = await cmd.load();
    return await run(withEnv.args, safe);
  } catch (e) {
    // The classifier knows every module's error classes: loaded only when something failed.
    const { classifyFailure } = await import('./failures.js');
    const failure = classifyFailure(e);
    // The prefix is ours, not a credential ("token: ..."): only the message is redacted.
    io.err(`greentic-host ${command}: ${redactCredentials(failure.message)}`);
    if (debug && e instanceof Error && e.stack) io.err(redactCredentials(e.stack));
    return failure.code;
  }
}
