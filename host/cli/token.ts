import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { mintToken, parseTtl, TokenMintError } from '../api/tokens.js';
import type { ApiScope } from '../api/auth.js';
import { loadWorkspace } from '../tenancy/config/load.js';
import { ConfigError } from '../tenancy/config/problems.js';
import { checkId, InvalidIdError } from '../tenancy/ids.js';
import { recordCommand } from '../audit/cli-audit.js';
import { openSecretStore } from './secret-store-open.js';
import { CommandFailed, HELP_FLAG, idFlag, parsingFlags, required, UsageError, dataDirFlag, type CommandIo } from './usage.js';

export const TOKEN_HELP = `Usage: greentic-host token issue --bundle DIR --tenant T --team TEAM[,TEAM] --scope SCOPE[,SCOPE] [options]

Mint a REST API token for a tenant, signed with the tenant's configured key (api.keys in its
config): its HS256 secret from the secret store, or --key for an EdDSA/RS256/ES256 key. The
token goes to stdout and nowhere else.

Options:
  --bundle DIR      the bundle (for the tenant's api config)          (required)
  --tenant T        the tenant the token is for                        (required)
  --team LIST       teams the token may act on, comma-separated        (required)
  --env LIST        environments, comma-separated                      (default: all of the tenant's)
  --scope LIST      read, write, admin, comma-separated                (required)
  --ttl DURATION    lifetime: 90s, 15m, 1h, 7d                         (default: 1h)
  --subject NAME    who the token is for (its sub claim)               (default: operator)
  --key FILE        PKCS8 PEM private key, for asymmetric tenant keys
  --data DIR        where the secret store and master key live         (default: ./data)
  --nats URL        read the HS256 secret from the NATS KV store instead
  --json            print {"token", "tenant", "teams", "envs", "scopes", "subject", "expires_at"}
  -h, --help        this help`;

/** A comma-separated list of ids for `flag`. */
function idList(kind: 'team' | 'env', value: string, flag: string): string[] {
  try {
    return value.split(',').map((v) => checkId(kind, v, `--${flag}`));
  } catch (e) {
    if (e instanceof InvalidIdError) throw new UsageError(e.message);
    throw e;
  }
}

export async function tokenCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: {
        ...HELP_FLAG,
        bundle: { type: 'string' },
        tenant: { type: 'string' },
        team: { type: 'string' },
        env: { type: 'string' },
        scope: { type: 'string' },
        ttl: { type: 'string' },
        subject: { type: 'string' },
        key: { type: 'string' },
        data: { type: 'string' },
        nats: { type: 'string' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(TOKEN_HELP);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'issue') throw new UsageError(`expected "token issue", got ${JSON.stringify(positionals.join(' '))}`);
  const tenantId = idFlag('tenant', values.tenant, 'tenant');
  const teams = idList('team', required(values.team, 'team'), 'team');
  const scopes = required(values.scope, 'scope').split(',');
  for (const s of scopes)
    if (s !== 'read' && s !== 'write' && s !== 'admin') throw new UsageError(`--scope takes read, write or admin, got ${JSON.stringify(s)}`);
  const ttl = parseTtl(values.ttl ?? '1h');
  if (ttl === null) throw new UsageError(`--ttl must look like 90s, 15m, 1h or 7d (at most a year), got ${JSON.stringify(values.ttl)}`);
  const subject = values.subject ?? 'operator';
  if (!/^[\w.@-]{1,100}$/.test(subject)) throw new UsageError('--subject may use letters, digits, _ . @ - (up to 100)');

  let tenant;
  try {
    tenant = (await loadWorkspace(resolve(required(values.bundle, 'bundle')))).tenants.get(tenantId);
  } catch (e) {
    if (e instanceof ConfigError) throw new CommandFailed(e.message);
    throw e;
  }
  if (!tenant) throw new CommandFailed(`the bundle has no (valid) tenant "${tenantId}"`);
  for (const t of teams) if (!tenant.teams.has(t)) throw new CommandFailed(`tenant "${tenantId}" has no team "${t}"`);
  const envs = values.env === undefined ? [...tenant.envs.keys()] : idList('env', values.env, 'env');
  for (const e of envs) if (!tenant.envs.has(e)) throw new CommandFailed(`tenant "${tenantId}" has no environment "${e}"`);

  const secrets = await openSecretStore({
    dataDir: dataDirFlag(values.data),
    nats: values.nats,
    client: 'greentic-host token',
    tenants: [tenantId],
    global: false,
  });
  const store = secrets.store;
  const close = () => secrets.close();
  try {
    const token = await mintToken({ tenant, teams, envs, scopes: scopes as ApiScope[], ttlSeconds: ttl, subject, privateKeyFile: values.key }, store);
    // Who may act as whom is security-relevant: the tenant's audit log says a token was minted (never the token).
    await recordCommand(
      { dataDir: dataDirFlag(values.data), links: secrets.links },
      {
        tenant: tenantId,
        actor: 'cli',
        action: 'token.issue',
        target: `token:${subject}`,
        outcome: 'ok',
        detail: `teams ${teams.join(',')}; envs ${envs.join(',')}; scopes ${scopes.join(',')}; ttl ${ttl} s`,
      },
      io.err,
    );
    if (values.json) {
      // The exp claim the token carries, as it was minted.
      const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number };
      const expires = new Date(exp * 1000).toISOString();
      io.out(JSON.stringify({ token, tenant: tenantId, teams, envs, scopes, subject, expires_at: expires }));
    } else io.out(token);
    return 0;
  } catch (e) {
    if (e instanceof TokenMintError) throw new CommandFailed(e.message);
    throw e;
  } finally {
    await close();
  }
}
