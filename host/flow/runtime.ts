import type { ComponentCatalog, ComponentEntry } from '../components/catalog.js';
import type { ComponentManifest } from '../components/manifest.js';
import { ComponentLoadError, type CompiledComponent, type ComponentRegistry, type LoadedComponent } from '../components/registry.js';
import { CAPABILITY_FUNCTIONS, HOST_PACKAGE } from '../capabilities/index.js';
import type { ConfigProblem } from '../tenancy/config/problems.js';
import { effectivePermissions, type Permissions } from '../tenancy/grants.js';
import type { TenantModel } from '../tenancy/model.js';
import { loadTenantFlows, type Flow } from './loader.js';

/** A tenant ready to serve: its config, its flows, and its components loaded and checked. */
export class TenantRuntime {
  readonly #permissions = new Map<string, Permissions>();

  constructor(
    readonly model: TenantModel,
    readonly flows: ReadonlyMap<string, Flow>,
    /** "team/channel" -> why that channel cannot run. */
    readonly unavailable: ReadonlyMap<string, string>,
    /** "env/type" -> the component compiled under that environment's memory cap. */
    readonly compiled: ReadonlyMap<string, CompiledComponent>,
  ) {}

  /** The compiled component a node of `type` runs in environment `env`. */
  componentFor(env: string, type: string): CompiledComponent | undefined {
    return this.compiled.get(`${env}/${type}`);
  }

  /** The flow answering a channel, or the reason the channel cannot run. */
  flowFor(team: string, channel: string): { ok: true; flow: Flow } | { ok: false; reason: string } {
    const why = this.unavailable.get(`${team}/${channel}`);
    if (why) return { ok: false, reason: why };
    const ch = this.model.teams.get(team)?.channels.get(channel);
    const flow = ch && this.flows.get(ch.flow);
    return flow ? { ok: true, flow } : { ok: false, reason: `channel ${team}/${channel} has no flow` };
  }

  /** Effective permissions of a component in an environment, computed once. */
  permissions(env: string, entry: ComponentEntry): Permissions {
    const key = `${env}/${entry.name}`;
    let p = this.#permissions.get(key);
    if (!p) {
      p = effectivePermissions(this.model, env, entry.manifest);
      this.#permissions.set(key, p);
    }
    return p;
  }
}

/**
 * Load a tenant: its flows, then every component they use (digest-checked, transpiled or
 * taken from the cache, compiled), refusing components whose actual imports exceed what their
 * manifest requests and the tenant grants. Problems are returned, never thrown.
 */
export async function loadTenantRuntime(
  tenant: TenantModel,
  catalog: ComponentCatalog,
  registry: ComponentRegistry,
  onLoaded?: (entry: ComponentEntry, loaded: LoadedComponent, ms: number) => void,
): Promise<{ runtime: TenantRuntime; problems: ConfigProblem[] }> {
  const loaded = await loadTenantFlows(tenant, catalog);
  const problems = [...loaded.problems];
  const unavailable = new Map(loaded.unavailable);
  const compiled = new Map<string, CompiledComponent>();
  const failed = new Map<string, string>();

  const types = new Set<string>();
  for (const flow of loaded.flows.values()) for (const node of flow.nodes.values()) types.add(node.type);
  for (const type of [...types].sort()) {
    const entry = catalog.resolve(tenant.id, type)!;
    const t0 = performance.now();
    try {
      const component = await registry.loadFile(entry.wasmPath, entry.pinnedDigest);
      const refusal = importRefusal(
        entry.name,
        entry.manifest,
        new Set(tenant.grants.components?.[entry.name]?.wasi ?? []),
        component,
        `tenant "${tenant.id}"`,
      );
      if (refusal) throw new ComponentLoadError(entry.manifestFile, refusal);
      // One compile per memory cap: environments may cap differently.
      for (const env of tenant.envs.keys()) {
        const limits = effectivePermissions(tenant, env, entry.manifest).limits;
        compiled.set(`${env}/${type}`, await registry.compile(component, limits.memoryMib, entry.manifestFile));
      }
      onLoaded?.(entry, component, performance.now() - t0);
    } catch (e) {
      if (!(e instanceof ComponentLoadError)) throw e;
      const notBuilt = entry.origin === 'builtin' && e.message.endsWith('file not found');
      const message = notBuilt ? `component "${type}" is not built (${entry.wasmPath}); run npm run build` : e.message;
      problems.push({ file: entry.manifestFile, path: '', message, tenant: tenant.id });
      failed.set(type, message);
    }
  }

  // A flow with a component that failed to load cannot run on any channel.
  const flows = new Map(loaded.flows);
  for (const [name, flow] of loaded.flows) {
    const broken = [...flow.nodes.values()].find((n) => failed.has(n.type));
    if (!broken) continue;
    flows.delete(name);
    for (const team of tenant.teams.values()) {
      for (const ch of team.channels.values()) {
        if (ch.flow === name) unavailable.set(`${team.id}/${ch.id}`, `flow "${name}" cannot run: ${failed.get(broken.type)}`);
      }
    }
  }
  return { runtime: new TenantRuntime(tenant, flows, unavailable, compiled), problems };
}

/**
 * Why a component's actual imports cannot be served, or null: every import must be one of our
 * capability interfaces, or a WASI interface its manifest requests and `grantor` grants.
 */
export function importRefusal(
  name: string,
  manifest: ComponentManifest,
  grantedWasi: ReadonlySet<string>,
  component: LoadedComponent,
  grantor: string,
): string | null {
  if (component.world !== 'greentic-host-node') {
    return `component "${name}" does not export ${HOST_PACKAGE}/node (it exports: ${component.exports.join(', ') || 'nothing'})`;
  }
  const requested = new Set(manifest.capabilities.wasi);
  for (const raw of component.imports) {
    const iface = raw.replace(/@[^@]*$/, '');
    if (iface.startsWith(`${HOST_PACKAGE}/`) && Object.hasOwn(CAPABILITY_FUNCTIONS, iface.slice(HOST_PACKAGE.length + 1))) continue;
    if (iface.startsWith('wasi:')) {
      if (!requested.has(iface)) return `component "${name}" imports ${iface}, which its manifest does not request (capabilities.wasi)`;
      if (!grantedWasi.has(iface)) return `component "${name}" imports ${iface}, which ${grantor} does not grant (grants.components.${name}.wasi)`;
      continue;
    }
    return `component "${name}" imports ${iface}, which this host does not provide`;
  }
  return null;
}
