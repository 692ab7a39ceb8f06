import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { namespacePrefix, type SecretNamespace } from '../stores/keys.js';
import { MAX_SECRET_BYTES, type SecretStore } from '../stores/secret-store.js';
import { loadWorkspace } from '../tenancy/config/load.js';
import type { AuditInput } from '../audit/audit-record.js';
import { recordCommand } from '../audit/cli-audit.js';
import { openSecretStore } from './secret-store-open.js';
import { ROTATE_HELP, rotateKeyCommand } from './secrets-rotate.js';
import { HELP_FLAG, parsingFlags, CommandFailed, idArgument, idFlag, optionalIdFlag, readAll, UsageError, dataDirFlag, type CommandIo } from './usage.js';

export const SECRETS_HELP = `Usage: greentic-host secrets set|list|delete [--data DIR] (--tenant T [--team TEAM] | --global) [NAME]
       greentic-host secrets rotate-key [--data DIR] [--nats URL] [--new-key-file FILE]

Manage secrets, encrypted at rest (AES-256-GCM) under the master key from
GREENTIC_MASTER_KEY or DATA/master.key (created, mode 0600, on first use). The secrets record
the id of their key (DATA/secrets/.key-id; key _key-id of each NATS bucket): a command or host
started with another key is refused rather than sealing secrets with a second key.

  set NAME      read the value from stdin and store it
  list          print the names in the namespace; values are never printed
  delete NAME   remove a secret
${ROTATE_HELP}

Namespaces: --global (global/), --tenant T (T/), --tenant T --team TEAM (T/teams/TEAM/).
A component reads a secret only when its manifest asks for it and the tenant's grants
allow it; lookups go team, then tenant, then global (only where granted).

Options:
  --data DIR      the data directory (default: ./data)
  --bundle DIR    also check that the tenant and team exist in this bundle
  --nats URL      store in the tenant's NATS KV bucket greentic_secrets_{tenant} (or
                  greentic_secrets_global) instead of files; the master key must be the
                  hosts' (GREENTIC_MASTER_KEY)
  --new-key-file FILE   rotate-key: the new master key (64 hex digits or base64, mode 0600)
  --json          list: print {"namespace", "secrets": [NAME, ...]}
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
        'new-key-file': { type: 'string' },
        json: { type: 'boolean' },
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
  const dataDir = dataDirFlag(values.data);
  if (action === 'rotate-key') {
    if (rest.length > 0 || values.tenant !== undefined || values.team !== undefined || values.global) {
      throw new UsageError('rotate-key takes no NAME or namespace: it re-seals every secret');
    }
    return rotateKeyCommand(dataDir, values.nats, values['new-key-file'], io);
  }
  if (action !== 'set' && action !== 'list' && action !== 'delete')
    throw new UsageError(`expected set, list, delete or rotate-key, got ${action === undefined ? 'nothing' : JSON.stringify(action.slice(0, 40))}`);
  if (values['new-key-file'] !== undefined) throw new UsageError('--new-key-file is for rotate-key');
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
  const secrets = await openSecretStore({
    dataDir,
    nats: values.nats,
    client: 'greentic-host secrets',
    tenants: ns.kind === 'global' ? [] : [ns.tenant],
    global: ns.kind === 'global',
    setUp: ns.kind === 'global' ? 'global' : 'tenants',
  });
  try {
    const audit = (input: Omit<AuditInput, 'tenant'>) =>
      ns.kind === 'global'
        ? Promise.resolve()
        : recordCommand({ dataDir, links: secrets.links }, { ...input, tenant: ns.tenant, team: ns.kind === 'team' ? ns.team : undefined }, io.err);
    return await runSecretsAction(action, rest, ns, secrets.store, io, values.json ?? false, audit);
  } finally {
    await secrets.close();
  }
}

async function runSecretsAction(
  action: 'set' | 'list' | 'delete',
  rest: string[],
  ns: SecretNamespace,
  store: SecretStore,
  io: CommandIo,
  json = false,
  audit: (input: Omit<AuditInput, 'tenant'>) => Promise<void> = async () => {},
): Promise<number> {
  if (json && action !== 'list') throw new UsageError('--json is for secrets list');
  if (action === 'list') {
    if (rest.length > 0) throw new UsageError('list takes no NAME');
    const names = await store.list(ns);
    if (json) {
      io.out(JSON.stringify({ namespace: namespacePrefix(ns), secrets: names }));
      return 0;
    }
    io.err(`${names.length} secret${names.length === 1 ? '' : 's'} in ${namespacePrefix(ns)}`);
    for (const n of names) io.out(n);
    return 0;
  }
  if (rest.length !== 1) throw new UsageError(`${action} takes exactly one NAME`);
  const name = idArgument('secret', rest[0], 'NAME');
  if (action === 'delete') {
    const existed = await store.delete(ns, name);
    await audit({ actor: 'cli', action: 'secret.delete', target: `secret:${namespacePrefix(ns)}${name}`, outcome: existed ? 'ok' : 'not-found' });
    if (!existed) throw new CommandFailed(`no secret ${namespacePrefix(ns)}${name}`);
    io.err(`deleted ${namespacePrefix(ns)}${name}`);
    return 0;
  }
  const value = (await readAll(io.stdin)).replace(/\r?\n$/, '');
  if (value.length === 0) throw new UsageError('the secret value (read from stdin) is empty');
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new UsageError(`the secret value is larger than ${MAX_SECRET_BYTES} bytes`);
  await store.set(ns, name, value);
  await audit({ actor: 'cli', action: 'secret.set', target: `secret:${namespacePrefix(ns)}${name}`, outcome: 'ok' });
  io.err(`stored ${namespacePrefix(ns)}${name} (encrypted)`);
  return 0;
}
