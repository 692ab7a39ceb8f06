import { redactCredentials } from '../observability/redact.js';
import { MasterKeyError } from '../stores/master-key.js';
import { DataDirError, StoreUnavailableError } from '../stores/storage-problem.js';
import { InvalidIdError } from '../tenancy/ids.js';
import { callCommand, CALL_HELP } from './call.js';
import { componentCommand, COMPONENT_HELP } from './component.js';
import { describeCommand, DESCRIBE_HELP } from './describe.js';
import { natsCommand, NATS_HELP } from './nats.js';
import { secretsCommand, SECRETS_HELP } from './secrets.js';
import { sendCommand, SEND_HELP } from './send.js';
import { serveCommand, SERVE_HELP } from './serve.js';
import { tokenCommand, TOKEN_HELP } from './token.js';
import { CommandFailed, UsageError, type CommandIo } from './usage.js';
import { validateCommand, VALIDATE_HELP } from './validate.js';

const COMMANDS: Record<string, { run: (argv: string[], io: CommandIo) => Promise<number>; help: string; summary: string }> = {
  serve: { run: serveCommand, help: SERVE_HELP, summary: 'run the host: flows on the embedded bus, webchat over HTTP' },
  send: { run: sendCommand, help: SEND_HELP, summary: 'send one message to a channel and print the replies' },
  call: { run: callCommand, help: CALL_HELP, summary: 'run one component once under a scope (for plugin authors)' },
  describe: { run: describeCommand, help: DESCRIBE_HELP, summary: "print a Greentic component's descriptor (its ops and schemas)" },
  component: { run: componentCommand, help: COMPONENT_HELP, summary: 'scaffold and build your own components (for plugin authors)' },
  validate: { run: validateCommand, help: VALIDATE_HELP, summary: 'check a bundle and report every problem with file and path' },
  secrets: { run: secretsCommand, help: SECRETS_HELP, summary: 'set, list or delete encrypted secrets' },
  token: { run: tokenCommand, help: TOKEN_HELP, summary: 'mint a REST API token for a tenant from its configured key' },
  nats: { run: natsCommand, help: NATS_HELP, summary: 'NATS deployments: migrate from the shared streams of earlier versions' },
};

export const MAIN_HELP = `Usage: greentic-host COMMAND [options]

A multi-tenant host for conversational flows whose nodes are sandboxed WebAssembly components.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run greentic-host COMMAND --help for a command's options.`;

const defaultIo: CommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  stdin: process.stdin,
};

/** Run the CLI; returns the exit code (0 ok, 1 failed, 2 bad usage). */
export async function main(argv: string[], io: CommandIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(MAIN_HELP);
    return command === undefined ? 2 : 0;
  }
  // Own keys only: "constructor" or "__proto__" is an unknown command, not Object.prototype's.
  const cmd = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!cmd) {
    io.err(`greentic-host: unknown command ${JSON.stringify(command)} (commands: ${Object.keys(COMMANDS).join(', ')})`);
    return 2;
  }
  // Whatever a command prints on failure goes out with credentials redacted (a --nats URL's password).
  const safe: CommandIo = { ...io, err: (line) => io.err(redactCredentials(line)) };
  try {
    return await cmd.run(rest, safe);
  } catch (e) {
    if (e instanceof UsageError || e instanceof InvalidIdError) {
      safe.err(`greentic-host ${command}: ${e.message} (see --help)`);
      return 2;
    }
    // A data directory, key or disk an operator must fix: one line saying what, never a stack.
    if (e instanceof CommandFailed || e instanceof DataDirError || e instanceof MasterKeyError || e instanceof StoreUnavailableError) {
      safe.err(`greentic-host ${command}: ${e.message}`);
      return 1;
    }
    safe.err(`greentic-host ${command}: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}
