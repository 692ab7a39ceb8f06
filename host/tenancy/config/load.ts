import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { isValidId, whyInvalid } from '../ids.js';
import type { TenantModel, Workspace } from '../model.js';
import { displayPath } from './config-file.js';
import { Confinement, isInside } from './confinement.js';
import { listFolders } from './folder.js';
import { BundleFileSchema, InlineTenantSchema, tenantHeader, TenantFileSchema } from './forms.js';
import type { ConfigSource } from './merge.js';
import { ConfigError, joinPath, zodProblems, type ConfigProblem } from './problems.js';
import { buildTenant, teamFileSources, type TenantFolders } from './tenant-build.js';
import { readYamlFile } from './yaml-file.js';

export { listEntries as listFiles } from './folder.js';

interface SharedFolder {
  readonly real: string;
  readonly confinement: Confinement;
}

/**
 * What bundle.yaml and the tenants/ folder say, read at every load and reload: the workspace,
 * the tenants defined inline, the tenant folders, and the real paths overlaps are checked on.
 */
export interface BundleIndex {
  readonly root: string;
  readonly name: string;
  /** bundle.yaml as messages name it. */
  readonly file: string;
  readonly shared: SharedFolder | undefined;
  /** Raw inline entries by tenant id (each checked when its tenant loads). */
  readonly inline: ReadonlyMap<string, unknown>;
  /** Every valid tenant id the bundle defines (inline or as a folder), sorted. */
  readonly tenantIds: readonly string[];
  /** Invalid ids (an inline key, a folder name): problems of no tenant. */
  readonly problems: readonly ConfigProblem[];
  readonly tenantsDir: string;
  readonly tenantsReal: string;
  readonly realDirs: ReadonlyMap<string, string>;
  readonly dirs: ReadonlySet<string>;
}

/**
 * Read bundle.yaml (optional when the bundle has a tenants/ folder) and list the tenants it
 * defines. A broken bundle.yaml is fatal (ConfigError): it is the one file every tenant shares.
 */
export async function readBundleIndex(bundleDir: string): Promise<BundleIndex> {
  const root = resolve(bundleDir);
  const rootStat = await stat(root).catch(() => null);
  if (!rootStat?.isDirectory()) throw new ConfigError([{ file: displayPath(root), path: '', message: 'bundle directory not found' }]);
  const bundleFile = join(root, 'bundle.yaml');
  const shown = displayPath(bundleFile);
  const tenantsDir = join(root, 'tenants');
  let data: unknown = {};
  if ((await lstat(bundleFile).catch(() => null)) || !(await stat(tenantsDir).catch(() => null))?.isDirectory()) {
    const parsed = await readYamlFile(bundleFile);
    if (!parsed.ok) {
      const missing = parsed.problems[0]?.message === 'file not found';
      throw new ConfigError(
        missing ? [{ file: displayPath(root), path: '', message: 'not a bundle: it has neither bundle.yaml nor a tenants/ folder' }] : parsed.problems,
      );
    }
    data = parsed.data;
  }
  // The envelope first; each inline tenant is checked on its own when it loads.
  const envelope = BundleFileSchema.extend({ tenants: z.record(z.string(), z.unknown()).optional() }).safeParse(data);
  if (!envelope.success) throw new ConfigError(zodProblems(shown, envelope.error.issues));

  const problems: ConfigProblem[] = [];
  const inline = new Map<string, unknown>();
  for (const [id, raw] of Object.entries(envelope.data.tenants ?? {})) {
    if (isValidId(id) && id !== 'global') inline.set(id, raw);
    else problems.push({ file: shown, path: joinPath(['tenants', id]), message: `invalid tenant id ${JSON.stringify(id)}: ${whyInvalid('tenant', id)}` });
  }
  const dirs = new Set<string>();
  for (const id of await listFolders(tenantsDir)) {
    if (isValidId(id) && id !== 'global') dirs.add(id);
    else
      problems.push({
        file: displayPath(join(tenantsDir, id)),
        path: '',
        message: `invalid tenant id ${JSON.stringify(id)} (directory name): ${whyInvalid('tenant', id)}`,
      });
  }
  const shared = await sharedFolder(root, envelope.data.shared_components, tenantsDir, shown);
  const tenantsReal = await realpath(tenantsDir).catch(() => tenantsDir);
  const tenantIds = [...new Set([...inline.keys(), ...dirs])].sort();
  const realDirs = new Map<string, string>();
  for (const id of tenantIds) realDirs.set(id, await realpath(join(tenantsDir, id)).catch(() => join(tenantsDir, id)));
  return { root, name: envelope.data.workspace ?? basename(root), file: shown, shared, inline, tenantIds, problems, tenantsDir, tenantsReal, realDirs, dirs };
}

/**
 * Load one tenant of a bundle: the pieces that describe it (its bundle.yaml entry, its
 * tenant.yaml, its team files), each validated, then merged and built. Any failure at all is a
 * problem of that tenant (model null), never an exception.
 */
export async function loadTenantModel(index: BundleIndex, id: string): Promise<{ model: TenantModel | null; problems: ConfigProblem[] }> {
  const problems: ConfigProblem[] = [];
  const inline = index.inline.has(id);
  const dir = join(index.tenantsDir, id);
  const primary = { file: index.file, path: ['tenants', id] as PropertyKey[] };
  try {
    const overlap = overlapOf(id, index);
    if (overlap) {
      const where = inline ? { file: index.file, path: joinPath(primary.path) } : { file: displayPath(join(dir, 'tenant.yaml')), path: '' };
      return { model: null, problems: [{ ...where, message: overlap, tenant: id }] };
    }
    const folders = await tenantFolders(id, dir, index.shared);
    const sources: ConfigSource[] = [];
    if (inline) {
      const body = InlineTenantSchema.safeParse(index.inline.get(id));
      if (body.success) sources.push({ value: body.data, mount: [], file: index.file, path: primary.path });
      else problems.push(...zodProblems(index.file, body.error.issues, primary.path, id));
    }
    if (index.dirs.has(id)) {
      const file = join(dir, 'tenant.yaml');
      const fileShown = displayPath(file);
      const doc = await readYamlFile(file, id, folders.own);
      if (doc.ok) {
        primary.path = [];
        primary.file = fileShown;
        const parsed = TenantFileSchema.safeParse(doc.data);
        if (!parsed.success) problems.push(...zodProblems(fileShown, parsed.error.issues, [], id));
        else {
          const { tenant: _header, ...rest } = parsed.data;
          const header = tenantHeader(parsed.data);
          if (header.id !== id)
            problems.push({ file: fileShown, path: 'tenant', message: `says "${header.id}" but the directory is tenants/${id}/`, tenant: id });
          if (header.record) sources.push({ value: header.record, mount: [], file: fileShown, path: ['tenant'] });
          sources.push({ value: rest, mount: [], file: fileShown, path: [] });
        }
      } else if (doc.problems[0]?.message !== 'file not found' || !inline) {
        const missing = `tenants/${id}/ has no tenant.yaml and bundle.yaml does not define "${id}"`;
        problems.push(...doc.problems.map((p) => (p.message === 'file not found' ? { ...p, message: missing } : p)));
      }
      sources.push(...(await teamFileSources(id, dir, folders, problems)));
    }
    if (problems.length > 0) return { model: null, problems };
    const model = await buildTenant(id, sources, { file: primary.file, path: joinPath(primary.path) }, folders, index.root, problems);
    return { model, problems };
  } catch (e) {
    const where = inline ? { file: index.file, path: joinPath(['tenants', id]) } : { file: displayPath(join(dir, 'tenant.yaml')), path: '' };
    problems.push({ ...where, message: `tenant "${id}" failed to load: ${e instanceof Error ? e.message : String(e)}`, tenant: id });
    return { model: null, problems };
  }
}

/**
 * Load a bundle directory into a Workspace. A broken bundle.yaml is fatal (ConfigError);
 * a broken tenant is left out and its problems are returned, so the other tenants still run.
 * Nothing one tenant's files contain (or fail to contain) throws out of here.
 */
export async function loadWorkspace(bundleDir: string): Promise<Workspace> {
  const index = await readBundleIndex(bundleDir);
  const problems: ConfigProblem[] = [...index.problems];
  const tenants = new Map<string, TenantModel>();
  for (const id of index.tenantIds) {
    const loaded = await loadTenantModel(index, id);
    problems.push(...loaded.problems);
    if (loaded.model) tenants.set(id, loaded.model);
  }
  return { name: index.name, root: index.root, sharedComponents: index.shared?.real, tenants, problems };
}

/** bundle.yaml's shared_components: a folder of the operator's, which must not overlap the tenants' folders. */
async function sharedFolder(root: string, declared: string | undefined, tenantsDir: string, shown: string): Promise<SharedFolder | undefined> {
  if (declared === undefined) return undefined;
  const fail = (message: string) => new ConfigError([{ file: shown, path: 'shared_components', message: `${JSON.stringify(declared)}: ${message}` }]);
  const real = await realpath(resolve(root, declared)).catch(() => null);
  if (real === null || !(await stat(real)).isDirectory()) throw fail('folder not found');
  const tenantsReal = await realpath(tenantsDir).catch(() => tenantsDir);
  if (isInside(real, tenantsReal) || isInside(tenantsReal, real))
    throw fail("overlaps tenants/; the shared components folder must be outside every tenant's folder");
  return { real, confinement: await Confinement.of([{ path: real, label: `the shared components folder (${displayPath(real)}/)` }]) };
}

/**
 * Why a tenant's folder, a link, leads into another tenant's folder (or the shared folder, or
 * around them), or null. Real folders side by side never overlap, so only a linked folder is
 * refused: one operator's wrong link never takes the tenants it points at down with it.
 */
function overlapOf(id: string, index: BundleIndex): string | null {
  const mine = index.realDirs.get(id)!;
  if (mine === join(index.tenantsReal, id)) return null; // a plain folder of its own
  for (const [other, theirs] of index.realDirs) {
    if (other !== id && (isInside(mine, theirs) || isInside(theirs, mine)))
      return `tenants/${id}/ is a link into (or around) tenants/${other}/; each tenant needs a folder of its own`;
  }
  if (index.shared && (isInside(mine, index.shared.real) || isInside(index.shared.real, mine)))
    return `tenants/${id}/ is a link into (or around) the shared components folder`;
  return null;
}

async function tenantFolders(id: string, dir: string, shared: SharedFolder | undefined): Promise<TenantFolders> {
  const own = await Confinement.of([{ path: dir, label: `tenant "${id}"'s folder (${displayPath(dir)}/)` }]);
  return { dir, own, components: shared ? own.with(shared.confinement) : own };
}
