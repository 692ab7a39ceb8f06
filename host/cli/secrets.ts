import { join, resolve } from 'node:path';
import { loadMasterKey } from '../stores/master-key.js';
import { namespacePrefix, type SecretNamespace } from '../stores/keys.js';
import { FileSecretStore, MAX_SECRET_BYTES, type SecretStore } from '../stores/secret-store.js';
import { NatsSecretStore } from '../stores/nats-secret-store.js';
import { NatsConnectError } from '../messaging/nats/connection.js';
import { NatsLinks } from '../messaging/nats/links.js';
import { ensureStreams, globalStreams, NatsSetupError, tenantStreams } from '../messaging/nats/resources.js';
import { createLogger } from '../observability/logger.js';
import { natsUrlFlag } from './instance-config.js';
import { loadWorkspace } from '../tenancy/config/load.js';
import { HELP_FLAG, parsingFlags, CommandFailed, idArgument, idFlag, optionalIdFlag, readAll, UsageError, type CommandIo } from './usage.js';
import { parseArgs } from 'node:util';

export const SECRETS_HELP = `Usage: greentic-host secrets set|list|delete [--data DIR] (--tenant T [--team TEAM] | --global) [NAME]

Manage secrets, encrypted at rest (AES-256-GCM) under the master key from
GREENTIC_MASTER_KEY or DATA/master.key (created, mode 0600, on first use).

  set NAME      read the value from stdin and store it
  list          print the names in the namespace; values are never printed
  delete NAME   remove a secret

Namespaces: --global (global/), --tenant T (T/), --tenant T --team TEAM (T/teams/TEAM/).
A component reads a secret only when its manifest asks for it and the tenant's grants
allow it; lookups go team, then tenant, then global (only where granted).

Options:
  --data DIR      the data directory (default: ./data)
  --bundle DIR    also check that the tenant and team exist in this bundle
  --nats URL      store in the tenant's NATS KV bucket greentic_secrets_{tenant} (or
                  greentic_secrets_global) instead of files; the master key must be the
                  hosts' (GREENTIC_MASTER_KEY)
  -h, --help      this help`;

export async function secretsCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: {
        ...HELP_FLAG,
        data: { type: 'string' },
        nats: { type: 'string' },
        tenant: { type: 'string' },
        team: { type: 'string' },
        global: { type: 'boolean' },
        bundle: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(SECRETS_HELP);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action !== 'set' && action !== 'list' && action !== 'delete')
    throw new UsageError(`expected set, list or delete, got ${action === undefined ? 'nothing' : JSON.stringify(action)}`);
  let ns: SecretNamespace;
  if (values.global) {
    if (values.tenant !== undefined || values.team !== undefined) throw new UsageError('--global cannot be combined with --tenant or --team');
    ns = { kind: 'global' };
  } else {
    const tenant = idFlag('tenant', values.tenant, 'tenant');
    const team = optionalIdFlag('team', values.team, 'team');
    ns = team === undefined ? { kind: 'tenant', tenant } : { kind: 'team', tenant, team };
    if (values.bundle !== undefined) {
      const ws = await loadWorkspace(resolve(values.bundle));
      const t = ws.tenants.get(tenant);
      if (!t) throw new CommandFailed(`bundle ${values.bundle} has no tenant "${tenant}"`);
      if (team !== undefined && !t.teams.has(team)) throw new CommandFailed(`tenant "${tenant}" has no team "${team}"`);
    }
  }
  const dataDir = resolve(values.data ?? 'data');
  const masterKey = await loadMasterKey(join(dataDir, 'master.key'));
  let store: SecretStore;
  let closeNats: (() => Promise<void>) | undefined;
  if (values.nats !== undefined) {
    const logger = createLogger({ level: 'warn' });
    try {
      const links = await NatsLinks.connect({ url: natsUrlFlag(values.nats), name: 'greentic-host secrets', connectWaitMs: 1 }, logger);
      closeNats = () => links.close();
      // The namespace's bucket is made if missing (by a user that may; a confined one gets a clear error).
      await ensureStreams(links.main.jsm, ns.kind === 'global' ? globalStreams() : tenantStreams(ns.tenant), 'this NATS user');
      store = await NatsSecretStore.open(links, masterKey);
    } catch (e) {
      if (e instanceof NatsConnectError || e instanceof NatsSetupError) {
        await closeNats?.();
        throw new CommandFailed(e.message);
      }
      throw e;
    }
  } else {
    store = new FileSecretStore(dataDir, masterKey);
  }
  try {
    return await runSecretsAction(action, rest, ns, store, io);
  } finally {
    await closeNats?.();
  }
}

async function runSecretsAction(action: 'set' | 'list' | 'delete', rest: string[], ns: SecretNamespace, store: SecretStore, io: CommandIo): Promise<number> {
  if (action === 'list') {
    if (rest.length > 0) throw new UsageError('list takes no NAME');
    const names = await store.list(ns);
    io.err(`${names.length} secret${names.length === 1 ? '' : 's'} in ${namespacePrefix(ns)}`);
    for (const n of names) io.out(n);
    return 0;
  }
  if (rest.length !== 1) throw new UsageError(`${action} takes exactly one NAME`);
  const name = idArgument('secret', rest[0], 'NAME');
  if (action === 'delete') {
    const existed = await store.delete(ns, name);
    if (!existed) throw new CommandFailed(`no secret ${namespacePrefix(ns)}${name}`);
    io.err(`deleted ${namespacePrefix(ns)}${name}`);
    return 0;
  }
  const value = (await readAll(io.stdin)).replace(/\r?\n$/, '');
  if (value.length === 0) throw new UsageError('the secret value (read from stdin) is empty');
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new UsageError(`the secret value is larger than ${MAX_SECRET_BYTES} bytes`);
  await store.set(ns, name, value);
  io.err(`stored ${namespacePrefix(ns)}${name} (encrypted)`);
  return 0;
}
