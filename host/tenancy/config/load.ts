import { realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { isValidId, whyInvalid } from '../ids.js';
import type { TenantModel, Workspace } from '../model.js';
import { displayPath } from './config-file.js';
import { Confinement, isInside } from './confinement.js';
import { listFolders } from './folder.js';
import { ConfigError, joinPath, zodProblems, type ConfigProblem } from './problems.js';
import { BundleFileSchema, InlineTenantSchema, TenantFileSchema } from './schema.js';
import { buildTenant, type Origin, type TenantFolders } from './tenant-build.js';
import { readYamlFile } from './yaml-file.js';

export { listEntries as listFiles } from './folder.js';

/**
 * Load a bundle directory into a Workspace. A broken bundle.yaml is fatal (ConfigError);
 * a broken tenant is left out and its problems are returned, so the other tenants still run.
 * Nothing one tenant's files contain (or fail to contain) throws out of here.
 */
export async function loadWorkspace(bundleDir: string): Promise<Workspace> {
  const root = resolve(bundleDir);
  const rootStat = await stat(root).catch(() => null);
  if (!rootStat?.isDirectory()) {
    throw new ConfigError([{ file: displayPath(root), path: '', message: 'bundle directory not found' }]);
  }
  const bundleFile = join(root, 'bundle.yaml');
  const parsed = await readYamlFile(bundleFile);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  const shown = displayPath(bundleFile);

  // Validate the envelope first, then each inline tenant on its own.
  const envelope = BundleFileSchema.extend({ tenants: z.record(z.string(), z.unknown()).optional() }).safeParse(parsed.data);
  if (!envelope.success) throw new ConfigError(zodProblems(shown, envelope.error.issues));

  const problems: ConfigProblem[] = [];
  const tenants = new Map<string, TenantModel>();
  const inline = new Map(Object.entries(envelope.data.tenants ?? {}));
  const tenantsDir = join(root, 'tenants');
  const dirs = await listFolders(tenantsDir);
  const shared = await sharedFolder(root, envelope.data.shared_components, tenantsDir, shown);
  const tenantsReal = await realpath(tenantsDir).catch(() => tenantsDir);
  const realDirs = new Map<string, string>();
  for (const id of new Set([...inline.keys(), ...dirs])) realDirs.set(id, await realpath(join(tenantsDir, id)).catch(() => join(tenantsDir, id)));

  /** Load one tenant; any failure at all becomes a problem of that tenant, never an exception. */
  const load = async (id: string, origin: Origin, readBody: () => Promise<unknown>) => {
    try {
      const overlap = overlapOf(id, tenantsReal, realDirs, shared);
      if (overlap) {
        problems.push({ file: origin.file, path: joinPath(origin.path), message: overlap, tenant: id });
        return;
      }
      const body = await readBody();
      if (body === null) return;
      const folders = await tenantFolders(id, join(tenantsDir, id), shared);
      const model = await buildTenant(id, body as Parameters<typeof buildTenant>[1], origin, folders, root, problems);
      if (model) tenants.set(id, model);
    } catch (e) {
      problems.push({
        file: origin.file,
        path: joinPath(origin.path),
        message: `tenant "${id}" failed to load: ${e instanceof Error ? e.message : String(e)}`,
        tenant: id,
      });
    }
  };

  for (const [id, raw] of inline) {
    const origin: Origin = { file: shown, path: ['tenants', id] };
    if (!isValidId(id) || id === 'global') {
      problems.push({ file: shown, path: joinPath(origin.path), message: `invalid tenant id ${JSON.stringify(id)}: ${whyInvalid('tenant', id)}` });
      continue;
    }
    const file = join(tenantsDir, id, 'tenant.yaml');
    if (dirs.includes(id) && (await stat(file).catch(() => null))) {
      problems.push({
        file: shown,
        path: joinPath(origin.path),
        message: `tenant "${id}" is also defined in ${displayPath(file)}; define it once`,
        tenant: id,
      });
      continue;
    }
    await load(id, origin, async () => {
      const body = InlineTenantSchema.safeParse(raw);
      if (body.success) return body.data;
      problems.push(...zodProblems(shown, body.error.issues, origin.path, id));
      return null;
    });
  }

  for (const id of dirs) {
    if (inline.has(id)) continue;
    const dir = join(tenantsDir, id);
    const file = join(dir, 'tenant.yaml');
    const fileShown = displayPath(file);
    if (!isValidId(id) || id === 'global') {
      problems.push({ file: displayPath(dir), path: '', message: `invalid tenant id ${JSON.stringify(id)} (directory name): ${whyInvalid('tenant', id)}` });
      continue;
    }
    await load(id, { file: fileShown, path: [] }, async () => {
      const own = await Confinement.of([{ path: dir, label: `tenant "${id}"'s folder (${displayPath(dir)}/)` }]);
      const doc = await readYamlFile(file, id, own);
      if (!doc.ok) {
        const missing = `tenants/${id}/ has no tenant.yaml and bundle.yaml does not define "${id}"`;
        problems.push(...doc.problems.map((p) => (p.message === 'file not found' ? { ...p, message: missing } : p)));
        return null;
      }
      const body = TenantFileSchema.safeParse(doc.data);
      if (!body.success) {
        problems.push(...zodProblems(fileShown, body.error.issues, [], id));
        return null;
      }
      if (body.data.tenant !== id) {
        problems.push({ file: fileShown, path: 'tenant', message: `says "${body.data.tenant}" but the directory is tenants/${id}/`, tenant: id });
        return null;
      }
      const { tenant: _id, ...rest } = body.data;
      return rest;
    });
  }

  return { name: envelope.data.workspace, root, sharedComponents: shared?.real, tenants, problems };
}

interface SharedFolder {
  readonly real: string;
  readonly confinement: Confinement;
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
function overlapOf(id: string, tenantsDir: string, realDirs: ReadonlyMap<string, string>, shared: SharedFolder | undefined): string | null {
  const mine = realDirs.get(id)!;
  if (mine === join(tenantsDir, id)) return null; // tenantsDir is real here: a plain folder of its own
  for (const [other, theirs] of realDirs) {
    if (other !== id && (isInside(mine, theirs) || isInside(theirs, mine)))
      return `tenants/${id}/ is a link into (or around) tenants/${other}/; each tenant needs a folder of its own`;
  }
  if (shared && (isInside(mine, shared.real) || isInside(shared.real, mine))) return `tenants/${id}/ is a link into (or around) the shared components folder`;
  return null;
}

async function tenantFolders(id: string, dir: string, shared: SharedFolder | undefined): Promise<TenantFolders> {
  const own = await Confinement.of([{ path: dir, label: `tenant "${id}"'s folder (${displayPath(dir)}/)` }]);
  return { dir, own, components: shared ? own.with(shared.confinement) : own };
}
