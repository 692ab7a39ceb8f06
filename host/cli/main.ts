import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactCredentials } from '../observability/redact.js';
import { PACKAGE_ROOT } from '../paths.js';
import { callCommand, CALL_HELP } from './call.js';
import { completionCommand, COMPLETION_HELP } from './completion.js';
import { withEnvFlags } from './env-flags.js';
import { componentCommand, COMPONENT_HELP } from './component.js';
import { dataCommand, DATA_HELP } from './data.js';
import { describeCommand, DESCRIBE_HELP } from './describe.js';
import { devCommand, DEV_HELP } from './dev.js';
import { dlqCommand, DLQ_HELP } from './dlq.js';
import { reloadCommand, RELOAD_HELP } from './reload.js';
import { natsCommand, NATS_HELP } from './nats.js';
import { secretsCommand, SECRETS_HELP } from './secrets.js';
import { sendCommand, SEND_HELP } from './send.js';
import { serveCommand, SERVE_HELP } from './serve.js';
import { tokenCommand, TOKEN_HELP } from './token.js';
import { classifyFailure, environmentProblem, EXIT } from './failures.js';
import type { CommandIo } from './usage.js';
import { validateCommand, VALIDATE_HELP } from './validate.js';

const COMMANDS: Record<string, { run: (argv: string[], io: CommandIo) => Promise<number>; help: string; summary: string }> = {
  serve: { run: serveCommand, help: SERVE_HELP, summary: 'run the host: flows on the embedded bus, webchat over HTTP' },
  dev: { run: devCommand, help: DEV_HELP, summary: 'the dev loop: serve a bundle, rebuild and reload what changes' },
  send: { run: sendCommand, help: SEND_HELP, summary: 'send one message to a channel and print the replies' },
  call: { run: callCommand, help: CALL_HELP, summary: 'run one component once under a scope (for plugin authors)' },
  describe: { run: describeCommand, help: DESCRIBE_HELP, summary: "print a Greentic component's descriptor (its ops and schemas)" },
  component: { run: componentCommand, help: COMPONENT_HELP, summary: 'scaffold and build your own components (for plugin authors)' },
  validate: { run: validateCommand, help: VALIDATE_HELP, summary: 'check a bundle and report every problem with file and path' },
  reload: { run: reloadCommand, help: RELOAD_HELP, summary: 'make a running serve reload a tenant, or its whole bundle' },
  secrets: { run: secretsCommand, help: SECRETS_HELP, summary: 'set, list or delete encrypted secrets' },
  token: { run: tokenCommand, help: TOKEN_HELP, summary: 'mint a REST API token for a tenant from its configured key' },
  dlq: { run: dlqCommand, help: DLQ_HELP, summary: "list, show, replay or delete a tenant's dead letters" },
  nats: { run: natsCommand, help: NATS_HELP, summary: 'NATS deployments: migrate from the shared streams of earlier versions' },
  data: { run: dataCommand, help: DATA_HELP, summary: "export or erase a user's, session's, environment's or tenant's stored data" },
  completion: {
    // Reads the table when it runs, so the script covers every command, itself included.
    run: async (argv, io) => completionCommand(argv, io, Object.entries(COMMANDS).map(([name, c]) => ({ name, help: c.help }))),
    help: COMPLETION_HELP,
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
    return await cmd.run(withEnv.args, safe);
  } catch (e) {
    const failure = classifyFailure(e);
    // The prefix is ours, not a credential ("token: ..."): only the message is redacted.
    io.err(`greentic-host ${command}: ${redactCredentials(failure.message)}`);
    if (debug && e instanceof Error && e.stack) io.err(redactCredentials(e.stack));
    return failure.code;
  }
}
