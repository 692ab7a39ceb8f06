import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GreenticHost } from '../host.js';
import { deleteDeadLetters, letterMessage, listDeadLetters, replayDeadLetters, summarise, type ReplayReport } from '../messaging/dead-letter-admin.js';
import { NatsConnectError } from '../messaging/nats/options.js';
import type { NatsLinks } from '../messaging/nats/links.js';
import { createLogger } from '../observability/logger.js';
import type { DeadLetterStore, ReplayTarget } from '../stores/dead-letters.js';
import { FileDeadLetterStore } from '../stores/file-dead-letters.js';
import { DataDirError } from '../stores/storage-problem.js';
import { ConfigError } from '../tenancy/config/problems.js';
import { natsUrlFlag, readInstanceConfig } from './instance-config.js';
import { CommandFailed, HELP_FLAG, idArgument, idFlag, intFlag, parsingFlags, UsageError, type CommandIo } from './usage.js';

export const DLQ_HELP = `Usage: greentic-host dlq list|show|replay|delete --tenant T [--data DIR | --nats URL] [ID... | --all]

A tenant's dead letters: ingress messages the host could not handle, and replies a provider
would not take (after its retries, or at once when a retry could deliver it twice).

  list          one line per letter, oldest first: id, time, source, reason, subject, detail
  show ID       one letter in full, with its message, as JSON
  replay ID...  publish each letter again on its own subject (a fresh message id), then delete it;
                --all replays every letter of the tenant
  delete ID...  drop letters

Embedded (the default): letters are files in DATA/deadletters/{tenant}/. A replay runs the
host in-process (--bundle needed) until the replayed messages are handled and their replies
delivered or dead letters again; it refuses while serve holds the data directory.
With --nats: letters are the tenant's GREENTIC_DLQ_{tenant} stream; a replay publishes to the
tenant's streams and the running instances handle it.

Options:
  --tenant T     the tenant                                    (required)
  --data DIR     the data directory                            (default: ./data)
  --bundle DIR   the bundle, for an embedded replay
  --nats URL     the NATS server of the deployment (credentials may be in the URL)
  --all          replay: every letter
  --json         list: one JSON object per line
  --limit N      list: at most N letters                       (default: 1000)
  --wait MS      embedded replay: how long to wait for deliveries   (default: 120000)
  --config FILE  embedded replay: serve's config file, for its providers: endpoints
  -h, --help     this help

Exit codes: 0 done, 1 a letter was missing or could not be replayed, 2 bad usage.`;

type Action = 'list' | 'show' | 'replay' | 'delete';

/** `greentic-host dlq ...`: list, show, replay or delete one tenant's dead letters. */
export async function dlqCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: {
        ...HELP_FLAG,
        tenant: { type: 'string' },
        data: { type: 'string' },
        bundle: { type: 'string' },
        nats: { type: 'string' },
        all: { type: 'boolean' },
        json: { type: 'boolean' },
        limit: { type: 'string' },
        wait: { type: 'string' },
        config: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(DLQ_HELP);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action !== 'list' && action !== 'show' && action !== 'replay' && action !== 'delete')
    throw new UsageError(`expected list, show, replay or delete, got ${action === undefined ? 'nothing' : JSON.stringify(action)}`);
  const tenant = idFlag('tenant', values.tenant, 'tenant');
  const ids = rest.map((id) => idArgument('message', id, 'ID'));
  if (values.all && action !== 'replay') throw new UsageError('--all goes with replay only');
  if (action === 'list' && ids.length > 0) throw new UsageError('list takes no ID');
  if (action === 'show' && ids.length !== 1) throw new UsageError('show takes exactly one ID');
  if ((action === 'delete' || (action === 'replay' && !values.all)) && ids.length === 0)
    throw new UsageError(`${action} needs at least one ID${action === 'replay' ? ' (or --all)' : ''}`);
  if (values.all && ids.length > 0) throw new UsageError('replay takes IDs or --all, not both');
  if (values.nats !== undefined && (values.data !== undefined || values.bundle !== undefined))
    throw new UsageError('--nats cannot be combined with --data or --bundle');
  const limit = intFlag(values.limit, 'limit', 1, 1000);
  const waitMs = intFlag(values.wait, 'wait', 0, 3_600_000) ?? 120_000;
  const wanted: readonly string[] | 'all' = values.all ? 'all' : ids;

  if (values.nats !== undefined) {
    const { NatsLinks, NatsDeadLetterStore } = await import('../messaging/nats/host-parts.js');
    let links: NatsLinks;
    try {
      links = await NatsLinks.connect({ url: natsUrlFlag(values.nats), name: 'greentic-host dlq', connectWaitMs: 1 }, createLogger({ level: 'warn' }));
      await links.connectTenants([tenant]);
    } catch (e) {
      if (e instanceof NatsConnectError) throw new CommandFailed(e.message);
      throw e;
    }
    try {
      const target: ReplayTarget = {
        publishDurable: async (subject, data, id) => void (await links.forTenant(tenant).js.publish(subject, data, { msgID: id, timeout: 5000 })),
      };
      return await run(action, new NatsDeadLetterStore(links), tenant, ids, wanted, limit, values.json === true, io, target);
    } finally {
      await links.close();
    }
  }
  const dataDir = resolve(values.data ?? 'data');
  if (action !== 'replay') return run(action, new FileDeadLetterStore(dataDir), tenant, ids, wanted, limit, values.json === true, io, undefined);
  if (values.bundle === undefined) throw new UsageError('an embedded replay needs --bundle DIR (the host runs in-process to handle it)');
  let host: GreenticHost;
  try {
    const endpoints = values.config === undefined ? undefined : (await readInstanceConfig(values.config)).providers;
    host = await GreenticHost.start({
      bundleDir: resolve(values.bundle),
      dataDir,
      tenants: [tenant],
      lockDataDir: true,
      workers: 1,
      ...(endpoints ? { channels: { endpoints } } : {}),
      logger: createLogger({ level: process.env.GREENTIC_LOG_LEVEL ?? 'warn' }),
    });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof DataDirError) throw new CommandFailed(e.message);
    throw e;
  }
  try {
    if (!host.serves(tenant)) throw new CommandFailed(`tenant "${tenant}" is not in the bundle or failed to load`);
    const before = new Set((await host.deadLetters.list(tenant, { limit: 1000 })).map((l) => l.id));
    const code = await run(action, host.deadLetters, tenant, ids, wanted, limit, false, io, host.bus);
    // Handled, and their replies delivered (or dead letters again), before the host stops.
    const settled = await Promise.race([
      (async () => {
        await host.bus.drain();
        await host.channels.egress.idle();
        return true;
      })(),
      new Promise<false>((r) => setTimeout(() => r(false), waitMs).unref()),
    ]);
    if (!settled) io.err(`still delivering after ${waitMs} ms; the rest is delivered by the next start (serve)`);
    const again = (await host.deadLetters.list(tenant, { limit: 1000 })).filter((l) => !before.has(l.id));
    for (const l of again) io.err(`dead letter again: ${l.id} ${l.reason}: ${l.detail}`);
    return again.length > 0 ? 1 : code;
  } finally {
    await host.close();
  }
}

async function run(
  action: Action,
  store: DeadLetterStore,
  tenant: string,
  ids: readonly string[],
  wanted: readonly string[] | 'all',
  limit: number | undefined,
  json: boolean,
  io: CommandIo,
  target: ReplayTarget | undefined,
): Promise<number> {
  if (action === 'list') {
    const letters = await listDeadLetters(store, tenant, limit === undefined ? {} : { limit });
    io.err(`${letters.length} dead letter${letters.length === 1 ? '' : 's'} of tenant ${tenant}`);
    for (const l of letters) io.out(json ? JSON.stringify(l) : `${l.id}  ${l.at}  ${l.source}  ${l.reason}  ${l.subject}  ${l.detail}`);
    return 0;
  }
  if (action === 'show') {
    const l = await store.get(tenant, ids[0]!);
    if (!l) throw new CommandFailed(`tenant ${tenant} has no dead letter ${ids[0]}`);
    io.out(JSON.stringify({ ...summarise(l), message: letterMessage(l) }, null, 2));
    return 0;
  }
  if (action === 'delete') {
    const missing = await deleteDeadLetters(store, tenant, ids);
    for (const id of ids) if (!missing.includes(id)) io.err(`deleted ${id}`);
    for (const id of missing) io.err(`tenant ${tenant} has no dead letter ${id}`);
    return missing.length > 0 ? 1 : 0;
  }
  const report: ReplayReport = await replayDeadLetters(store, tenant, wanted, target!);
  for (const id of report.replayed) io.out(`replayed ${id}`);
  for (const id of report.missing) io.err(`tenant ${tenant} has no dead letter ${id}`);
  for (const f of report.failed) io.err(`could not replay ${f.id}: ${f.message}`);
  if (report.replayed.length === 0 && wanted === 'all') io.err(`tenant ${tenant} has no dead letters`);
  return report.missing.length + report.failed.length > 0 ? 1 : 0;
}
