import { performance } from 'node:perf_hooks';
import type { ComponentCatalog, ComponentEntry } from '../components/catalog.js';
import type { ComponentManifest } from '../components/manifest.js';
import { ComponentLoadError, type CompiledComponent, type ComponentRegistry, type LoadedComponent } from '../components/registry.js';
import { CAPABILITY_FUNCTIONS, HOST_PACKAGE } from '../capabilities/index.js';
import { GREENTIC_HOST_INTERFACES, GREENTIC_TYPE_INTERFACES, greenticInterfaceRefusal } from '../capabilities/greentic-interfaces.js';
import { greenticAbiRefusal } from '../greentic/abi.js';
import { blake3Mismatch } from '../greentic/component-hash.js';
import { InputMapping, MappingSyntaxError } from '../greentic/input-mapping.js';
import { NodeError } from '../sandbox/errors.js';
import { wasiVersionMappings, wasiVersionRefusal } from '../sandbox/wasi-versions.js';
import { MAX_COMPONENT_FILE_BYTES, readFileBounded } from '../tenancy/config/config-file.js';
import type { ConfigProblem } from '../tenancy/config/problems.js';
import { effectivePermissions, grantedWasiOf, wasiGranted, type Permissions } from '../tenancy/grants.js';
import type { TenantModel } from '../tenancy/model.js';
import type { ChannelFlow } from './channel-flows.js';
import { ComponentFileError, type ComponentFiles } from './component-files.js';
import type { Describer } from './describe.js';
import { loadTenantFlows, type Flow } from './loader.js';

/** What loading a component found out, for the progress line and the log. */
export interface LoadDetails {
  /** WASI imports served by another 0.2 patch than they name ("wasi:io/streams@0.2.6 -> 0.2.3"). */
  readonly wasiMapped: readonly string[];
  /** A Greentic component's ops, as its describe() lists them (when it was described). */
  readonly ops?: readonly string[];
}

/** A tenant ready to serve: its config, its flows, and its components loaded and checked. */
export class TenantRuntime {
  readonly #permissions = new Map<string, Permissions>();

  constructor(
    readonly model: TenantModel,
    readonly flows: ReadonlyMap<string, Flow>,
    /** "team/channel" -> the flow it runs, named or by the default rule. */
    readonly channelFlows: ReadonlyMap<string, ChannelFlow>,
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
    const bound = this.channelFlows.get(`${team}/${channel}`);
    const flow = bound && this.flows.get(bound.flow);
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
 * manifest requests and the tenant grants. With a `describe`r, each Greentic component is
 * described once, in the sandbox, and every node's `config.op` checked against its ops.
 * Problems are returned, never thrown.
 */
export async function loadTenantRuntime(
  tenant: TenantModel,
  catalog: ComponentCatalog,
  registry: ComponentRegistry,
  onLoaded?: (entry: ComponentEntry, loaded: LoadedComponent, ms: number, details: LoadDetails) => void,
  describe?: Describer,
  files?: ComponentFiles,
): Promise<{ runtime: TenantRuntime; problems: ConfigProblem[] }> {
  const loaded = await loadTenantFlows(tenant, catalog);
  const problems = [...loaded.problems];
  const unavailable = new Map(loaded.unavailable);
  const compiled = new Map<string, CompiledComponent>();
  const failed = new Map<string, string>();
  /** flow name -> why it cannot run (a node names an op its component does not describe). */
  const brokenFlows = new Map<string, string>();

  const types = new Set<string>();
  for (const flow of loaded.flows.values()) for (const node of flow.nodes.values()) types.add(node.type);
  for (const type of [...types].sort()) {
    const entry = catalog.resolve(tenant.id, type)!;
    const t0 = performance.now();
    try {
      const envLimits = [...tenant.envs.keys()].map((env) => [env, effectivePermissions(tenant, env, entry.manifest).limits] as const);
      // The file is refused unread past the largest size any environment allows; compile checks each environment's limits.
      const maxBytes = envLimits.length > 0 ? Math.max(...envLimits.map(([, l]) => l.module.bytes)) : MAX_COMPONENT_FILE_BYTES;
      const component = await loadComponentBytes(registry, entry, maxBytes, files);
      const refusal = importRefusal(entry.name, entry.manifest, grantedWasiOf(tenant, entry.name), component, `tenant "${tenant.id}"`);
      if (refusal) throw new ComponentLoadError(entry.manifestFile, refusal);
      // One compile per memory and table cap: environments may cap differently.
      for (const [env, limits] of envLimits) {
        compiled.set(`${env}/${type}`, await registry.compile(component, limits.memoryMib, entry.manifestFile, { name: entry.name, limits: limits.module }));
      }
      let ops: string[] | undefined;
      if (describe && component.world === 'greentic-component-node') {
        const described = await describedOps(describe, tenant, type, entry, compiled);
        ops = described.ops;
        for (const flow of loaded.flows.values()) {
          for (const node of flow.nodes.values()) {
            const op = node.type === type ? opOf(node.configJson, described.ops, described.listed) : null;
            if (op === null) continue;
            problems.push({ file: flow.file, path: `nodes.${node.id}.config.${op.at}`, message: op.message, tenant: tenant.id });
            brokenFlows.set(flow.name, `flow "${flow.name}" cannot run: node "${node.id}": ${op.message}`);
          }
        }
      }
      onLoaded?.(entry, component, performance.now() - t0, { wasiMapped: wasiVersionMappings(component.versionedImports), ops });
    } catch (e) {
      // Whatever a component's bytes hold, the failure is this tenant's problem, never the host's end.
      const loadError =
        e instanceof ComponentLoadError
          ? e
          : new ComponentLoadError(entry.manifestFile, `component "${type}" failed to load: ${e instanceof Error ? e.message : String(e)}`);
      const notBuilt = entry.origin === 'builtin' && loadError.message.endsWith('file not found');
      const message = notBuilt ? `component "${type}" is not built (${entry.wasmPath}); run npm run build` : loadError.message;
      problems.push({ file: entry.manifestFile, path: '', message, tenant: tenant.id });
      failed.set(type, message);
    }
  }

  // A flow with a component that failed to load, or a node naming an op that does not exist, cannot run on any channel.
  const flows = new Map(loaded.flows);
  for (const [name, flow] of loaded.flows) {
    const broken = [...flow.nodes.values()].find((n) => failed.has(n.type));
    const why = broken ? `flow "${name}" cannot run: ${failed.get(broken.type)}` : brokenFlows.get(name);
    if (!why) continue;
    flows.delete(name);
    for (const [channel, bound] of loaded.channelFlows) if (bound.flow === name) unavailable.set(channel, why);
  }
  return { runtime: new TenantRuntime(tenant, flows, loaded.channelFlows, unavailable, compiled), problems };
}

/**
 * loadTenantRuntime, with any failure it did not foresee made a problem of that tenant (which
 * then serves nothing) instead of an exception: other tenants load and serve.
 */
export async function loadTenantRuntimeSafely(
  ...args: Parameters<typeof loadTenantRuntime>
): Promise<{ runtime: TenantRuntime | undefined; problems: ConfigProblem[] }> {
  const tenant = args[0];
  try {
    return await loadTenantRuntime(...args);
  } catch (e) {
    const message = `tenant "${tenant.id}" failed to load: ${e instanceof Error ? e.message : String(e)}`;
    return { runtime: undefined, problems: [{ file: tenant.file, path: tenant.path, message, tenant: tenant.id }] };
  }
}

/**
 * A component's bytes, bounded in size; a tenant's are read only from inside its folders. With
 * `files`, a file unchanged since it was last loaded is not read or hashed again.
 */
async function loadComponentBytes(registry: ComponentRegistry, entry: ComponentEntry, moduleBytes: number, files?: ComponentFiles): Promise<LoadedComponent> {
  const maxBytes = Math.min(MAX_COMPONENT_FILE_BYTES, moduleBytes);
  const refused = (why: string) =>
    // Over the tenant's own limit: say which setting it is.
    why.startsWith('is more than') && maxBytes === moduleBytes
      ? new ComponentLoadError(entry.wasmPath, `the component is more than the ${maxBytes} bytes allowed (settings.limits.module.bytes)`)
      : new ComponentLoadError(entry.wasmPath, why);
  if (entry.bytes) {
    // A pack's component: read, bounded and checked against the pack's digests when the pack was opened.
    if (entry.bytes.length > maxBytes) throw refused(`is more than ${maxBytes} bytes`);
    return registry.loadBytes(entry.bytes, entry.wasmPath, entry.pinnedDigest);
  }
  if (files) {
    try {
      return await files.load(registry, entry, maxBytes);
    } catch (e) {
      throw e instanceof ComponentFileError ? refused(e.message) : e;
    }
  }
  const read = await readFileBounded(entry.wasmPath, { maxBytes, confinement: entry.confinement });
  if (!read.ok) throw refused(read.problems[0]!.message);
  const blake3 = entry.greentic?.blake3;
  const mismatch = blake3 === undefined ? null : await blake3Mismatch(read.bytes, blake3);
  if (mismatch) throw new ComponentLoadError(entry.wasmPath, mismatch);
  return registry.loadBytes(read.bytes, entry.wasmPath, entry.pinnedDigest);
}

/** describe() a Greentic component once (first environment); a failure is a load error naming the component. */
async function describedOps(
  describe: Describer,
  tenant: TenantModel,
  type: string,
  entry: ComponentEntry,
  compiled: Map<string, CompiledComponent>,
): Promise<{ ops: string[]; listed: boolean }> {
  const env = [...tenant.envs.keys()][0]!;
  try {
    const d = await describe(compiled.get(`${env}/${type}`)!, { tenant: tenant.id, env }, effectivePermissions(tenant, env, entry.manifest));
    // A component that lists no ops itself (node@0.6 invoke only, node@0.5) runs the ops its manifest lists.
    if (!d.opsListed) return { ops: [...(entry.greentic?.operations ?? [])], listed: (entry.greentic?.operations.length ?? 0) > 0 };
    return { ops: d.descriptor.ops.map((o) => o.name), listed: true };
  } catch (e) {
    if (!(e instanceof NodeError)) throw e;
    throw new ComponentLoadError(entry.manifestFile, `component "${type}": describe() failed: ${e.code}: ${e.message}`);
  }
}

/** Why a node's config cannot pick an op among `ops` (`listed`: the component or its manifest names them), or null. */
function opOf(configJson: string, ops: readonly string[], listed: boolean): { at: string; message: string } | null {
  const config = JSON.parse(configJson) as { op?: unknown; input?: unknown };
  const op = config.op;
  if (op === undefined && ops.length === 0) return { at: 'op', message: 'the component lists no ops (nor does its manifest); name one with config.op' };
  if (op !== undefined && (typeof op !== 'string' || (listed && !ops.includes(op)))) {
    return { at: 'op', message: `the component has no op ${JSON.stringify(op)} (it describes: ${ops.join(', ') || 'none'})` };
  }
  if (config.input !== undefined) {
    try {
      InputMapping.parse(config.input);
    } catch (e) {
      if (e instanceof MappingSyntaxError) return { at: `input${e.path}`, message: e.why };
      throw e;
    }
  }
  return null;
}

/**
 * Why a component's actual imports cannot be served, or null. It must export our node contract
 * or one of Greentic's ABIs; every WASI import must name a version the sandbox serves; every
 * import with functions must be one of our capability interfaces (greentic:host/node
 * components), a Greentic host interface at a version served (Greentic components; http-client
 * only when its manifest asks for outgoing HTTP), or a WASI interface its manifest requests and
 * `grantor` grants. Type-only imports (such as greentic:types-core/core) need no grant.
 */
export function importRefusal(
  name: string,
  manifest: ComponentManifest,
  grantedWasi: Iterable<string>,
  component: LoadedComponent,
  grantor: string,
): string | null {
  const legacy = greenticAbiRefusal(name, component.exports);
  if (legacy) return legacy;
  if (component.world === 'unknown') {
    return `component "${name}" exports neither ${HOST_PACKAGE}/node nor one of Greentic's component contracts (greentic:component/node@0.5 or @0.6, component-runtime@0.6.0, runtime@0.6.1) (it exports: ${component.exports.join(', ') || 'nothing'})`;
  }
  const versions = wasiVersionRefusal(component.versionedImports);
  if (versions) return `component "${name}" ${versions}`;
  const ours = component.world === 'greentic-host-node';
  const requested = new Set(manifest.capabilities.wasi);
  const granted = [...grantedWasi];
  const versionOf = new Map(component.versionedImports.map((v) => [v.replace(/@[^@]*$/, ''), v.includes('@') ? v.slice(v.lastIndexOf('@') + 1) : undefined]));
  for (const raw of component.imports) {
    const iface = raw.replace(/@[^@]*$/, '');
    if (ours && iface.startsWith(`${HOST_PACKAGE}/`) && Object.hasOwn(CAPABILITY_FUNCTIONS, iface.slice(HOST_PACKAGE.length + 1))) continue;
    if (!ours && GREENTIC_HOST_INTERFACES.has(iface)) {
      const refusal = greenticInterfaceRefusal(iface, versionOf.get(iface));
      if (refusal) return `component "${name}" ${refusal}`;
      if (iface === 'greentic:http/http-client' && !manifest.capabilities.http) {
        return `component "${name}" imports ${iface}, but its manifest does not ask for outgoing HTTP (capabilities.host.http.client)`;
      }
      continue;
    }
    if (iface.startsWith('wasi:')) {
      if (!requested.has(iface)) return `component "${name}" imports ${iface}, which its manifest does not request (capabilities.wasi)`;
      if (!wasiGranted(granted, iface)) return `component "${name}" imports ${iface}, which ${grantor} does not grant (grants.components.${name}.wasi)`;
      continue;
    }
    if (GREENTIC_TYPE_INTERFACES.has(iface)) continue;
    return `component "${name}" imports ${iface}, which this host does not provide`;
  }
  return null;
}
