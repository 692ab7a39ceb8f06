import { parseArgs } from 'node:util';
import { NatsConnectError } from '../messaging/nats/options.js';
import { NatsLinks } from '../messaging/nats/links.js';
import { migrateSharedStreams } from '../messaging/nats/migrate.js';
import { NatsSetupError } from '../messaging/nats/options.js';
import { createLogger } from '../observability/logger.js';
import { natsUrlFlag } from './instance-config.js';
import { CommandFailed, HELP_FLAG, parsingFlags, required, UsageError, type CommandIo } from './usage.js';

export const NATS_HELP = `Usage: greentic-host nats migrate --nats URL [--dry-run]

Move a NATS deployment from the shared streams of earlier versions (GREENTIC_INGRESS,
GREENTIC_EGRESS, KV greentic_sessions, greentic_secrets) to each tenant's own: sessions and
secrets are copied into the tenant's buckets, waiting ingress messages into its ingress stream,
then the shared streams are removed (replies still in GREENTIC_EGRESS are dropped). Stop the
old instances first. Run it as a user that may create and delete streams (in the account the
shared streams are in).

Options:
  --nats URL     the server, credentials in the URL if it needs them
  --dry-run      only say what would move
  -h, --help     this help`;

export async function natsCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({ args: argv, options: { ...HELP_FLAG, nats: { type: 'string' }, 'dry-run': { type: 'boolean' } }, allowPositionals: true, strict: true }),
  );
  if (values.help) {
    io.out(NATS_HELP);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'migrate')
    throw new UsageError(`expected migrate, got ${positionals.length === 0 ? 'nothing' : JSON.stringify(positionals.join(' '))}`);
  const url = natsUrlFlag(required(values.nats, 'nats'));
  let links: NatsLinks;
  try {
    links = await NatsLinks.connect({ url, name: 'greentic-host nats migrate', connectWaitMs: 1 }, createLogger({ level: 'warn' }));
  } catch (e) {
    if (e instanceof NatsConnectError) throw new CommandFailed(e.message);
    throw e;
  }
  try {
    await migrateSharedStreams(links.main, values['dry-run'] === true, (line) => io.out(line));
    return 0;
  } catch (e) {
    if (e instanceof NatsSetupError || e instanceof RangeError) throw new CommandFailed(e.message);
    throw new CommandFailed(
      `migration stopped: ${(e as Error).message}; what was read is kept (waiting ingress in GREENTIC_MIGRATING, the old buckets until the end): run it again`,
    );
  } finally {
    await links.close();
  }
}
