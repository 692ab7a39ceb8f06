import { join, resolve, dirname } from 'node:path';
import { lstat, readdir } from 'node:fs/promises';
import { z } from 'zod';
import type { GreenticManifestInfo } from '../greentic/manifest.js';
import { GREENTIC_MANIFEST_FILE, readGreenticManifest, readPin } from '../greentic/manifest-file.js';
import { withoutHostKeys } from '../greentic/node-config.js';
import { loadTenantPacks, type TenantPack } from '../greentic/pack/tenant-packs.js';
import { isValidId, whyInvalid } from '../tenancy/ids.js';
import { joinPath, type ConfigProblem } from '../tenancy/config/problems.js';
import { displayPath, readYamlFile } from '../tenancy/config/yaml-file.js';
import { isInside, type Confinement } from '../tenancy/config/confinement.js';
import { listFolders } from '../tenancy/config/folder.js';
import type { TenantModel, Workspace } from '../tenancy/model.js';
import { parseManifest, type ComponentManifest } from './manifest.js';

/** A component type a flow can name: its manifest, where its bytes are, and who supplied it. */
export interface ComponentEntry {
  readonly name: string;
  readonly manifest: ComponentManifest;
  readonly manifestFile: string;
  readonly wasmPath: string;
  /** sha256 the bytes must have; always set for tenant-supplied components. */
  readonly pinnedDigest: string | undefined;
  readonly origin: 'builtin' | 'tenant';
  /** The manifest's config_schema as a validator, if it declares one. */
  readonly configSchema: z.ZodType | undefined;
  /** Set when the component came with Greentic's component.manifest.json (mapped into `manifest`). */
  readonly greentic?: GreenticManifestInfo | undefined;
  /** A tenant's component: the folders its bytes must be read from (links included). */
  readonly confinement?: Confinement | undefined;
  /** A pack's component: its bytes, read and checked against the pack's digests when the pack was opened. */
  readonly bytes?: Buffer | undefined;
}

/** Where first-party components live: manifests in `sourceDir`, built bytes in `buildDir`. */
export interface BuiltinLocation {
  readonly sourceDir: string;
  readonly buildDir: string;
}

/**
 * Component types by tenant. Built-ins are visible to every tenant (subject to its grants);
 * a tenant's own components (tenants/<id>/components/<name>/) are visible to that tenant only.
 */
export class ComponentCatalog {
  private constructor(
    readonly builtins: ReadonlyMap<string, ComponentEntry>,
    private readonly perTenant: ReadonlyMap<string, ReadonlyMap<string, ComponentEntry>>,
    readonly problems: readonly ConfigProblem[],
    private readonly perTenantPacks: ReadonlyMap<string, readonly TenantPack[]> = new Map(),
  ) {}

  /** Read every manifest; broken ones become problems (a tenant's problems carry its id). */
  static async load(builtin: BuiltinLocation, workspace?: Workspace): Promise<ComponentCatalog> {
    const problems: ConfigProblem[] = [];
    const builtins = new Map<string, ComponentEntry>();
    for (const name of await subdirs(builtin.sourceDir)) {
      const entry = await readEntry(join(builtin.sourceDir, name), name, 'builtin', problems, undefined, join(builtin.buildDir, name, `${name}.wasm`));
      if (entry) builtins.set(name, entry);
    }
    const perTenant = new Map<string, Map<string, ComponentEntry>>();
    const packs = new Map<string, readonly TenantPack[]>();
    for (const tenant of workspace?.tenants.values() ?? []) {
      try {
        const own = await tenantEntries(tenant, builtins, problems);
        perTenant.set(tenant.id, own.entries);
        packs.set(tenant.id, own.packs);
      } catch (e) {
        // Whatever one tenant's components hold, the catalog of every other tenant still loads.
        problems.push({
          file: tenant.file,
          path: '',
          message: `components of tenant "${tenant.id}" failed to load: ${(e as Error).message}`,
          tenant: tenant.id,
        });
        perTenant.set(tenant.id, new Map());
      }
    }
    return new ComponentCatalog(builtins, perTenant, problems, packs);
  }

  /**
   * The built-ins and `tenant`'s own components, read again (a reload of that tenant), with the
   * problems of its components. No other tenant's components are read or kept.
   */
  async withTenant(tenant: TenantModel): Promise<{ catalog: ComponentCatalog; problems: ConfigProblem[] }> {
    const problems: ConfigProblem[] = [];
    let own: { entries: Map<string, ComponentEntry>; packs: readonly TenantPack[] };
    try {
      own = await tenantEntries(tenant, this.builtins, problems);
    } catch (e) {
      problems.push({ file: tenant.file, path: '', message: `components of tenant "${tenant.id}" failed to load: ${(e as Error).message}`, tenant: tenant.id });
      own = { entries: new Map(), packs: [] };
    }
    return { catalog: new ComponentCatalog(this.builtins, new Map([[tenant.id, own.entries]]), problems, new Map([[tenant.id, own.packs]])), problems };
  }

  /** The packs `tenant` deploys (their flows and the type names of their components); another tenant's never. */
  packsOf(tenant: string): readonly TenantPack[] {
    return this.perTenantPacks.get(tenant) ?? [];
  }

  /** The component a flow of `tenant` means by `type`; another tenant's components never match. */
  resolve(tenant: string, type: string): ComponentEntry | undefined {
    return this.perTenant.get(tenant)?.get(type) ?? this.builtins.get(type);
  }

  /** Every type `tenant` can see. */
  typesFor(tenant: string): string[] {
    return [...new Set([...this.builtins.keys(), ...(this.perTenant.get(tenant)?.keys() ?? [])])].sort();
  }
}

/** A tenant's own components: tenants/<id>/components/<name>/, the folders its config names (all inside its folders), and its packs'. */
async function tenantEntries(
  tenant: TenantModel,
  builtins: ReadonlyMap<string, ComponentEntry>,
  problems: ConfigProblem[],
): Promise<{ entries: Map<string, ComponentEntry>; packs: readonly TenantPack[] }> {
  const mine = new Map<string, ComponentEntry>();
  const dir = join(tenant.dir, 'components');
  const folders = new Map<string, string>();
  for (const name of await listFolders(dir)) {
    const found = await tenant.folder.resolve(join(dir, name));
    if (found.ok && found.isDirectory) folders.set(name, found.real);
    else problems.push({ file: displayPath(join(dir, name)), path: '', message: found.ok ? 'not a folder' : found.message, tenant: tenant.id });
  }
  for (const [name, path] of tenant.componentPaths) {
    if (folders.has(name)) {
      problems.push({
        file: tenant.file,
        path: joinPath([...(tenant.path ? [tenant.path] : []), 'components', name]),
        message: `component "${name}" is also in ${displayPath(folders.get(name)!)}; keep one`,
        tenant: tenant.id,
      });
      continue;
    }
    folders.set(name, path);
  }
  for (const [name, folder] of folders) {
    if (builtins.has(name)) {
      problems.push({
        file: displayPath(folder),
        path: '',
        message: `"${name}" is the name of a built-in component; give the tenant's component another name`,
        tenant: tenant.id,
      });
      continue;
    }
    const entry = await readEntry(folder, name, 'tenant', problems, tenant.id, undefined, tenant.componentFolders);
    if (entry) mine.set(name, entry);
  }
  const taken = (name: string) =>
    builtins.has(name)
      ? `"${name}" is the name of a built-in component`
      : folders.has(name)
        ? `tenant "${tenant.id}" has a component "${name}" of its own`
        : undefined;
  const packs = await loadTenantPacks(tenant, taken, problems);
  for (const [name, entry] of packs.entries) mine.set(name, entry);
  return { entries: mine, packs: packs.packs };
}

async function readEntry(
  dir: string,
  name: string,
  origin: 'builtin' | 'tenant',
  problems: ConfigProblem[],
  tenant?: string,
  builtPath?: string,
  confinement?: Confinement,
  /** Set when `dir` is the dist/ of a source folder: the manifest it was built from. */
  builtFrom?: string,
): Promise<ComponentEntry | null> {
  const file = join(dir, 'manifest.yaml');
  const shown = displayPath(file);
  // lstat, not exists: whether a link's target exists (perhaps outside the tenant's folder) must not steer what happens.
  if (origin === 'tenant' && (await present(join(dir, GREENTIC_MANIFEST_FILE)))) {
    if (await present(file)) {
      problems.push({
        file: displayPath(dir),
        path: '',
        message: `has both manifest.yaml and ${GREENTIC_MANIFEST_FILE}; keep the one that describes the component`,
        tenant,
      });
      return null;
    }
    return readGreenticEntry(dir, name, problems, tenant, confinement);
  }
  if (!isValidId(name)) {
    problems.push({
      file: displayPath(dir),
      path: '',
      message: `invalid component id ${JSON.stringify(name)} (directory name): ${whyInvalid('component', name)}`,
      tenant,
    });
    return null;
  }
  const doc = await readYamlFile(file, tenant, confinement);
  if (!doc.ok) {
    problems.push(...doc.problems);
    return null;
  }
  const parsed = parseManifest(doc.data, shown);
  if (!parsed.ok) {
    problems.push(...parsed.problems.map((p) => ({ ...p, tenant })));
    return null;
  }
  const manifest = parsed.manifest;
  if (manifest.name !== name) {
    problems.push({ file: shown, path: 'name', message: `says "${manifest.name}" but the directory is ${name}/`, tenant });
    return null;
  }
  let wasmPath: string;
  if (origin === 'tenant' && manifest.source && !manifest.wasm && !builtFrom) {
    // A component's sources (what component new makes, greentic-host dev builds): served from its build.
    const dist = join(dir, 'dist');
    if (!(await present(join(dist, 'manifest.yaml')))) {
      problems.push({
        file: shown,
        path: 'source',
        message: `${manifest.name} is not built yet (no dist/manifest.yaml): run greentic-host component build ${displayPath(dir)}, or greentic-host dev, which builds it`,
        tenant,
      });
      return null;
    }
    return readEntry(dist, name, origin, problems, tenant, undefined, confinement, shown);
  }
  if (origin === 'tenant') {
    if (!manifest.wasm || !manifest.sha256) {
      problems.push({ file: shown, path: manifest.wasm ? 'sha256' : 'wasm', message: 'a tenant component names its .wasm file and pins its sha256', tenant });
      return null;
    }
    wasmPath = resolve(dir, manifest.wasm);
    if (!isInside(dir, wasmPath) || wasmPath === dir) {
      problems.push({ file: shown, path: 'wasm', message: 'must be a file inside the component directory', tenant });
      return null;
    }
  } else {
    wasmPath = manifest.wasm ? resolve(dir, manifest.wasm) : (builtPath ?? join(dirname(file), `${name}.wasm`));
  }
  return {
    name,
    manifest,
    manifestFile: shown,
    wasmPath,
    pinnedDigest: manifest.sha256,
    origin,
    configSchema: manifest.config_schema ? z.fromJSONSchema(manifest.config_schema as Parameters<typeof z.fromJSONSchema>[0]) : undefined,
    confinement,
  };
}

/**
 * A tenant's component that ships Greentic's component.manifest.json (mapped onto our manifest)
 * and component.sha256 (the pin). A node's `config.op` picks the op and `config.input` maps its
 * input, so neither is part of the config the component's config_schema checks.
 */
async function readGreenticEntry(
  dir: string,
  name: string,
  problems: ConfigProblem[],
  tenant: string | undefined,
  confinement: Confinement | undefined,
): Promise<ComponentEntry | null> {
  const file = join(dir, GREENTIC_MANIFEST_FILE);
  if (!isValidId(name)) {
    problems.push({
      file: displayPath(dir),
      path: '',
      message: `invalid component id ${JSON.stringify(name)} (directory name): ${whyInvalid('component', name)}`,
      tenant,
    });
    return null;
  }
  const pin = await readPin(dir, tenant, confinement);
  if (!pin.ok) {
    problems.push(...pin.problems);
    return null;
  }
  const read = await readGreenticManifest(file, name, pin.artifact, tenant, confinement);
  if (!read.ok) {
    problems.push(...read.problems);
    return null;
  }
  const schema = read.manifest.config_schema;
  return {
    name,
    manifest: read.manifest,
    manifestFile: displayPath(file),
    wasmPath: resolve(dir, pin.artifact.wasm),
    pinnedDigest: pin.artifact.sha256,
    origin: 'tenant',
    configSchema: schema ? z.preprocess(withoutHostKeys, z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0])) : undefined,
    greentic: read.greentic,
    confinement,
  };
}

async function present(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}
