import { parseArgs } from 'node:util';
import { AdminTokenError, adminTokenFromEnv } from '../api/admin-auth.js';
import { CommandFailed, HELP_FLAG, optionalIdFlag, parsingFlags, UsageError, type CommandIo } from './usage.js';

export const RELOAD_HELP = `Usage: greentic-host reload [--tenant T] [--url URL]

Ask a running serve to reload its bundle: one tenant (--tenant), or the whole bundle (tenants
added to it are served, tenants removed from it stop being served, their data kept). Each
tenant is validated first: a version with problems is refused, the tenant keeps serving its
last good version, and the problems are printed.

Options:
  --tenant T   the tenant to reload                      (default: the whole bundle)
  --url URL    the instance's HTTP address               (default: http://127.0.0.1:8080)
  -h, --help   this help

The operator token is read from GREENTIC_ADMIN_TOKEN or GREENTIC_ADMIN_TOKEN_FILE, as serve
reads it. With several instances, reload each (or let each watch its bundle: serve --watch).

Exit codes: 0 reloaded or unchanged, 1 a version refused, a tenant failed or the instance
unreachable, 2 bad usage.`;

interface Problem {
  readonly file: string;
  readonly path: string;
  readonly message: string;
}

interface Reload {
  readonly tenant: string;
  readonly outcome: string;
  readonly version: string | null;
  readonly previous_version: string | null;
  readonly problems: readonly Problem[];
}

/** How long a reload may take before the command gives up (a tenant's components may be transpiled). */
const RELOAD_TIMEOUT_MS = 120_000;

export async function reloadCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parsingFlags(() =>
    parseArgs({ args: argv, options: { ...HELP_FLAG, tenant: { type: 'string' }, url: { type: 'string' } }, allowPositionals: false, strict: true }),
  );
  if (values.help) {
    io.out(RELOAD_HELP);
    return 0;
  }
  const tenant = optionalIdFlag('tenant', values.tenant, 'tenant');
  const base = instanceUrl(values.url ?? 'http://127.0.0.1:8080');
  let token: string | undefined;
  try {
    token = await adminTokenFromEnv();
  } catch (e) {
    if (e instanceof AdminTokenError) throw new CommandFailed(e.message);
    throw e;
  }
  if (!token) throw new CommandFailed('set GREENTIC_ADMIN_TOKEN (or GREENTIC_ADMIN_TOKEN_FILE) to the token the instance was started with');
  const path = tenant ? `/admin/v1/tenants/${tenant}/reload` : '/admin/v1/reload';
  let res: Response;
  try {
    res = await fetch(new URL(path, base), { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(RELOAD_TIMEOUT_MS) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    throw new CommandFailed(`cannot reach ${base.origin}: ${why}`);
  }
  const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string }; reloads?: Reload[] } & Partial<Reload>;
  if (!res.ok) {
    const error = body?.error;
    if (res.status === 404 && error?.message === 'no such route')
      throw new CommandFailed(`${base.origin} has no admin API (start it with GREENTIC_ADMIN_TOKEN set)`);
    throw new CommandFailed(`${base.origin} answered ${res.status}${error ? ` (${error.code}): ${error.message}` : ''}`);
  }
  const reloads = tenant ? [body as Reload] : (body.reloads ?? []);
  if (reloads.length === 0) io.out('nothing changed');
  let failed = false;
  for (const r of reloads) {
    io.out(describe(r));
    for (const p of r.problems) io.out(`  ${p.path ? `${p.file}: ${p.path}: ${p.message}` : `${p.file}: ${p.message}`}`);
    if (r.outcome === 'kept-last-good' || r.outcome === 'failed') failed = true;
  }
  return failed ? 1 : 0;
}

function describe(r: Reload): string {
  const n = r.problems.length;
  const problems = `${n} problem${n === 1 ? '' : 's'}`;
  switch (r.outcome) {
    case 'reloaded':
      return `${r.tenant}: reloaded (${r.previous_version} -> ${r.version})${n > 0 ? `, ${problems}` : ''}`;
    case 'unchanged':
      return `${r.tenant}: unchanged (${r.version})`;
    case 'added':
      return `${r.tenant}: added (${r.version})${n > 0 ? `, ${problems}` : ''}`;
    case 'removed':
      return `${r.tenant}: removed (no longer in the bundle; its data is kept)`;
    case 'kept-last-good':
      return `${r.tenant}: kept its last good version ${r.previous_version}; the new one (${r.version}) has ${problems}:`;
    default:
      return `${r.tenant}: ${r.outcome}${n > 0 ? `, ${problems}:` : ''}`;
  }
}

function instanceUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url must be an http(s) URL such as http://127.0.0.1:8080, got ${JSON.stringify(raw.slice(0, 200))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be http or https, got ${JSON.stringify(url.protocol)}`);
  return url;
}
