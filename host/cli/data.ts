import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exportLines } from '../data/export-format.js';
import { FileTenantWipe } from '../data/file-wipe.js';
import type { DataEvent } from '../data/data-events.js';
import { recordCommand } from '../audit/cli-audit.js';
import { dataEventRecord } from '../audit/host-events.js';
import { TenantData, UnknownScopeError, type DataSelector, type TenantWipe } from '../data/tenant-data.js';
import { NatsConnectError } from '../messaging/nats/options.js';
import type { NatsLinks } from '../messaging/nats/links.js';
import { createLogger } from '../observability/logger.js';
import { openDataDir } from '../stores/data-dir.js';
import type { DeadLetterStore } from '../stores/dead-letters.js';
import { FileDeadLetterStore } from '../stores/file-dead-letters.js';
import { FileSessionStore } from '../stores/file-session-store.js';
import { loadMasterKey } from '../stores/master-key.js';
import { FileSecretStore, type SecretStore } from '../stores/secret-store.js';
import type { SessionStore } from '../stores/session-store.js';
import { loadWorkspace } from '../tenancy/config/load.js';
import { natsUrlFlag } from './instance-config.js';
import { CommandFailed, HELP_FLAG, idFlag, optionalIdFlag, parsingFlags, UsageError, type CommandIo } from './usage.js';

export const DATA_HELP = `Usage: greentic-host data export|delete --bundle DIR --tenant T [--env E]
                         [--user U | --team TEAM --session S] [options]

Export or erase what is stored of a tenant's conversations: sessions (state and
transcripts), journal entries, checkpoints, dead letters, KV revisions.

  export   print the export document (JSON, README "Export format") on stdout
  delete   erase it; durable once this prints its counts

Whose data: --user U (that user's, across every team), --team TEAM --session S
(one session), or neither: every session of --env E, or of the whole tenant.
Deleting a whole tenant (no --env, --user or --session) also removes its secrets
and purges its buckets and streams; every delete without --user or --session
needs --yes.

Options:
  --bundle DIR    the bundle whose tenant is meant (default: .)
  --data DIR      the data directory (default: ./data); the embedded stores need
                  it to be free: stop \`serve\` first, or use the REST API
  --nats URL      the tenant's NATS KV buckets and streams instead of files
  --format F      export as json (default) or ndjson
  --out FILE      write the export there instead of stdout
  --yes           confirm the erasure of a whole environment or tenant
  -h, --help      this help`;

interface Stores {
  readonly sessions: SessionStore;
  readonly deadLetters: DeadLetterStore;
  readonly secrets: SecretStore;
  readonly wipe: TenantWipe;
  /** Set with --nats (the audit records go to the tenant's stream). */
  readonly links?: NatsLinks;
  close(): Promise<void>;
}

export async function dataCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: {
        ...HELP_FLAG,
        bundle: { type: 'string' },
        data: { type: 'string' },
        nats: { type: 'string' },
        tenant: { type: 'string' },
        env: { type: 'string' },
        team: { type: 'string' },
        user: { type: 'string' },
        session: { type: 'string' },
        format: { type: 'string' },
        out: { type: 'string' },
        yes: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(DATA_HELP);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action !== 'export' && action !== 'delete')
    throw new UsageError(`expected export or delete, got ${action === undefined ? 'nothing' : JSON.stringify(action)}`);
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const tenant = idFlag('tenant', values.tenant, 'tenant');
  const sel = selector(values);
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'ndjson') throw new UsageError(`--format must be json or ndjson, got ${JSON.stringify(format)}`);
  if (action === 'delete' && sel.kind === 'all' && !values.yes) {
    throw new UsageError(`deleting every session of ${sel.env === undefined ? `tenant "${tenant}"` : `${tenant}/${sel.env}`} needs --yes`);
  }
  const ws = await loadWorkspace(resolve(values.bundle ?? '.'));
  if (!ws.tenants.has(tenant)) throw new CommandFailed(`bundle ${values.bundle ?? '.'} has no tenant "${tenant}" (or its configuration does not load)`);
  const dataDir = resolve(values.data ?? 'data');
  const stores = await openStores(dataDir, values.nats);
  const events: DataEvent[] = [];
  try {
    const data = new TenantData({ ...stores, tenants: ws.tenants, onEvent: (e) => events.push(e) });
    if (action === 'export') {
      const doc = await data.export(tenant, sel, 'cli');
      const text = format === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : `${[...exportLines(doc)].join('\n')}\n`;
      if (values.out !== undefined) await writeFile(values.out, text, { mode: 0o600 });
      else io.out(text.trimEnd());
      io.err(`exported ${doc.sessions.length} session(s) and ${doc.dead_letters.length} dead letter(s) of tenant "${tenant}"`);
      return 0;
    }
    const removed = await data.erase(tenant, sel, 'cli');
    io.err(
      `erased from tenant "${tenant}": ${Object.entries(removed)
        .map(([k, n]) => `${n} ${k.replace('_', ' ')}`)
        .join(', ')}`,
    );
    return 0;
  } catch (e) {
    if (e instanceof UnknownScopeError) throw new CommandFailed(e.message);
    throw e;
  } finally {
    for (const e of events) {
      const r = dataEventRecord(e);
      if (r) await recordCommand({ dataDir, links: stores.links }, r, io.err);
    }
    await stores.close();
  }
}

function selector(v: { env?: string; team?: string; user?: string; session?: string }): DataSelector {
  const env = optionalIdFlag('env', v.env, 'env');
  if (v.user !== undefined) {
    if (v.session !== undefined || v.team !== undefined) throw new UsageError('--user cannot be combined with --session or --team');
    return { kind: 'user', user: idFlag('user', v.user, 'user'), env };
  }
  if (v.session !== undefined || v.team !== undefined) {
    if (env === undefined) throw new UsageError('--session needs --env and --team');
    return { kind: 'session', env, team: idFlag('team', v.team, 'team'), session: idFlag('session', v.session, 'session') };
  }
  return { kind: 'all', env };
}

async function openStores(dataDir: string, nats: string | undefined): Promise<Stores> {
  const masterKey = await loadMasterKey(join(dataDir, 'master.key'));
  if (nats !== undefined) {
    const { NatsLinks, NatsSessionStore, NatsDeadLetterStore, NatsSecretStore, NatsTenantWipe } = await import('../messaging/nats/host-parts.js');
    let links: NatsLinks;
    try {
      links = await NatsLinks.connect({ url: natsUrlFlag(nats), name: 'greentic-host data', connectWaitMs: 1 }, createLogger({ level: 'warn' }));
    } catch (e) {
      if (e instanceof NatsConnectError) throw new CommandFailed(e.message);
      throw e;
    }
    return {
      sessions: await NatsSessionStore.open(links),
      deadLetters: new NatsDeadLetterStore(links),
      secrets: await NatsSecretStore.open(links, masterKey),
      wipe: new NatsTenantWipe(links),
      links,
      close: () => links.close(),
    };
  }
  // A serving instance holds the lock: two processes must never write one journal.
  const lock = await openDataDir(dataDir, { lock: true, logger: createLogger({ level: 'warn' }) });
  const sessions = await FileSessionStore.open(dataDir);
  return {
    sessions,
    deadLetters: new FileDeadLetterStore(dataDir),
    secrets: new FileSecretStore(dataDir, masterKey),
    wipe: new FileTenantWipe(dataDir),
    close: async () => {
      await sessions.close();
      await lock?.release();
    },
  };
}
