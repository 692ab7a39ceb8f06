import { performance } from 'node:perf_hooks';
import { randomHex } from '../util/random-hex.js';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ComponentLoadError, ComponentRegistry, type CompiledComponent, type LoadedComponent } from '../components/registry.js';
import type { ComponentManifest } from '../components/manifest.js';
import { InvocationScope, type OutgoingMessage, type TurnState } from '../capabilities/scope.js';
import type { ComponentDescriptor } from '../greentic/contract.js';
import type { HttpPolicy } from '../capabilities/http-client/allow-list.js';
import { HttpClientService } from '../capabilities/http-client/client.js';
import { blake3Mismatch } from '../greentic/component-hash.js';
import { derivedOp } from '../greentic/derived-descriptor.js';
import { defaultGreenticManifest, type GreenticManifestInfo } from '../greentic/manifest.js';
import type { RawInvocation } from '../greentic/node-adapter.js';
import type { Logger } from '../observability/logger.js';
import { HostMetrics, type DenialEvent } from '../observability/metrics.js';
import { WorkerPool } from '../sandbox/pool.js';
import type { NodeOutput } from '../sandbox/protocol.js';
import { sessionKey } from '../stores/keys.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { Permissions } from '../tenancy/grants.js';
import { isValidId } from '../tenancy/ids.js';
import { DEFAULT_LIMITS, type Limits } from '../tenancy/model.js';
import type { TenantScope } from '../tenancy/tenant-ctx.js';
import { describeInPool, type Described } from './describe.js';
import { importRefusal } from './runtime.js';

/** A component file to run once from the command line, and what it asks for. */
export interface CallTarget {
  readonly wasmPath: string;
  /** What the component asks for; every request is granted (the caller is the operator). Absent: none, or Greentic's WASI baseline for a Greentic component. */
  readonly manifest: ComponentManifest | undefined;
  readonly cacheDir: string;
  readonly limits?: Partial<Limits>;
  /** What a Greentic manifest says beyond ours (its op schemas, its BLAKE3 pin). */
  readonly greentic?: GreenticManifestInfo | undefined;
  /** Origins a Greentic component may send HTTP requests to (`call --allow-http`); none by default. */
  readonly http?: HttpPolicy | undefined;
}

/** A component loaded, checked and compiled for one call. */
export interface PreparedCall {
  readonly component: LoadedComponent;
  readonly compiled: CompiledComponent;
  readonly permissions: Permissions;
  readonly greentic?: GreenticManifestInfo | undefined;
}

/**
 * Load and check a component for `greentic-host call` or `describe`. Every WASI interface a
 * Greentic component imports is served, in the sandbox, when it comes without a manifest (the
 * operator runs a file of their choosing; with a manifest, only what it requests), and always
 * with `inspect` (describe).
 */
export async function prepareCall(target: CallTarget, inspect = false): Promise<PreparedCall> {
  const registry = new ComponentRegistry(target.cacheDir);
  const component = await registry.loadFile(target.wasmPath);
  const blake3 = target.greentic?.blake3;
  if (blake3 !== undefined) {
    const mismatch = await blake3Mismatch(await readFile(target.wasmPath), blake3);
    if (mismatch) throw new ComponentLoadError(target.wasmPath, mismatch);
  }
  const name = target.manifest?.name ?? cliName(target.wasmPath);
  const greentic = component.world === 'greentic-component-node';
  let manifest = target.manifest ?? (greentic ? defaultGreenticManifest(name) : emptyManifest(name));
  // Without a manifest, a Greentic component importing http-client may load; each request still needs --allow-http.
  if (greentic && target.manifest === undefined && component.imports.includes('greentic:http/http-client')) {
    manifest = { ...manifest, capabilities: { ...manifest.capabilities, http: true } };
  }
  const requested = new Set(manifest.capabilities.wasi);
  if (inspect || (greentic && target.manifest === undefined)) for (const i of component.imports) if (i.startsWith('wasi:')) requested.add(i);
  const refusal = importRefusal(name, { ...manifest, capabilities: { ...manifest.capabilities, wasi: [...requested] } }, requested, component, 'the manifest');
  if (refusal) throw new ComponentLoadError(target.wasmPath, refusal);
  const permissions: Permissions = {
    component: name,
    state: manifest.capabilities.state,
    messaging: manifest.capabilities.messaging,
    log: manifest.capabilities.log,
    secrets: new Set(manifest.capabilities.secrets),
    globalSecrets: new Set(manifest.capabilities.secrets),
    wasi: requested,
    http: manifest.capabilities.http ? target.http : undefined,
    limits: {
      ...DEFAULT_LIMITS,
      deadlineMs: manifest.limits.deadline_ms ?? DEFAULT_LIMITS.deadlineMs,
      memoryMib: manifest.limits.memory_mib ?? DEFAULT_LIMITS.memoryMib,
      ...target.limits,
    },
  };
  const compiled = await registry.compile(component, permissions.limits.memoryMib, target.wasmPath, { name, limits: permissions.limits.module });
  return { component, compiled, permissions, greentic: target.greentic };
}

/** Who the one call is for. */
export interface CallScope {
  readonly scope: TenantScope;
  readonly user: string;
  readonly session: string;
  readonly channel: string;
  readonly secrets: SecretStore;
  readonly logger: Logger;
  /** Told of each capability call the host denied (the CLI names them: a trap alone does not say why). */
  readonly onDenial?: (event: DenialEvent) => void;
}

export interface SingleCallOptions extends CallScope {
  readonly text: string;
  readonly config: Record<string, unknown>;
  readonly state: Record<string, string>;
  readonly resumed: boolean;
}

export interface SingleCallResult {
  readonly output: NodeOutput;
  readonly outbox: readonly OutgoingMessage[];
  readonly state: Record<string, string>;
  readonly denials: number;
  readonly ms: number;
}

/**
 * Run one component once as a flow node, in a worker, under a scope: what `greentic-host call`
 * does for plugin authors. The same sandbox, bridge and capability checks as a flow run.
 */
export async function callComponentOnce(prepared: PreparedCall, opts: SingleCallOptions): Promise<SingleCallResult> {
  const { scope, turn, stats } = callScope(prepared, opts, opts.state);
  return withPool(opts.logger, async (pool) => {
    const t0 = performance.now();
    const raw = await pool.invoke({
      component: prepared.compiled,
      scope,
      input: {
        nodeId: 'call',
        message: { text: opts.text, userId: opts.user, channel: opts.channel },
        config: JSON.stringify(opts.config),
        resumed: opts.resumed,
      },
    });
    // Checked in the worker against the call's budgets, as in a flow.
    const output = raw as NodeOutput;
    return { output, outbox: turn.outbox, state: Object.fromEntries(turn.working), denials: stats.denialCount, ms: performance.now() - t0 };
  });
}

export interface GreenticCallResult {
  readonly result: RawInvocation;
  readonly ms: number;
}

/** Invoke one op of a Greentic component once on `payload` (a JSON value, sent as CBOR), in the sandbox. */
export async function callGreenticOnce(
  prepared: PreparedCall,
  opts: CallScope & { readonly op: string | undefined; readonly payload: unknown },
): Promise<GreenticCallResult> {
  const { scope } = callScope(prepared, opts, {});
  return withPool(opts.logger, async (pool) => {
    const t0 = performance.now();
    const result = (await pool.invoke({
      component: prepared.compiled,
      scope,
      kind: 'raw',
      raw: { op: opts.op, payload: opts.payload },
      inputSchema: opts.op === undefined ? undefined : prepared.greentic?.inputSchemas.get(opts.op),
      input: { nodeId: 'call', message: { text: '', userId: opts.user, channel: opts.channel }, config: '{}', resumed: false },
    })) as RawInvocation;
    return { result, ms: performance.now() - t0 };
  });
}

/** Call a Greentic component's describe() once, in the sandbox; a derived descriptor takes the manifest's name, version and ops. */
export async function describeOnce(
  prepared: PreparedCall,
  logger: Logger,
  manifest?: ComponentManifest,
): Promise<{ described: Described; descriptor: ComponentDescriptor; ms: number }> {
  return withPool(logger, async (pool) => {
    const t0 = performance.now();
    const described = await describeInPool(pool, prepared.compiled, { tenant: 'local', env: 'local' }, prepared.permissions, logger);
    const descriptor = withManifest(described, prepared.greentic, manifest);
    // A derived descriptor of a component without a manifest goes by the file's name.
    const named = descriptor.name === 'component' ? { ...descriptor, name: prepared.permissions.component } : descriptor;
    return { described, descriptor: named, ms: performance.now() - t0 };
  });
}

/** A derived descriptor completed from the component's manifest: its name, version, and the ops it lists. */
function withManifest(d: Described, g: GreenticManifestInfo | undefined, manifest: ComponentManifest | undefined): ComponentDescriptor {
  if (!d.derived || !g) return d.descriptor;
  const ops = [...d.descriptor.ops];
  for (const op of g.operations) {
    if (ops.some((o) => o.name === op)) continue;
    ops.push(derivedOp(op, 'listed by the manifest', g.inputSchemas.get(op), undefined, 'application/json'));
  }
  const named = d.descriptor.name === 'component' || d.descriptor.name === '';
  return {
    ...d.descriptor,
    name: named ? g.name : d.descriptor.name,
    version: d.descriptor.version === '0.0.0' ? (manifest?.version ?? '0.0.0') : d.descriptor.version,
    ops,
  };
}

function callScope(prepared: PreparedCall, opts: CallScope, state: Record<string, string>) {
  const key = sessionKey(opts.scope, opts.session, 'call');
  const turn: TurnState = { working: new Map(Object.entries(state)), outbox: [] };
  const metrics = new HostMetrics();
  const scope = new InvocationScope({
    ctx: { tenantId: key.tenant, envId: key.env, teamId: opts.scope.team, sessionId: key.session, userId: opts.user, traceId: randomHex(16) },
    session: key,
    channel: opts.channel,
    teamChannels: new Set([opts.channel]),
    permissions: prepared.permissions,
    flow: 'call',
    node: 'call',
    turn,
    services: {
      secrets: opts.secrets,
      logger: opts.logger,
      metrics: {
        recordDenial: (e: DenialEvent) => {
          metrics.recordDenial(e);
          opts.onDenial?.(e);
        },
      },
      http: new HttpClientService(),
    },
  });
  return { scope, turn, stats: metrics };
}

async function withPool<T>(logger: Logger, run: (pool: WorkerPool) => Promise<T>): Promise<T> {
  const pool = new WorkerPool({ logger, size: 1, spare: false });
  await pool.start();
  try {
    return await run(pool);
  } finally {
    await pool.close();
  }
}

/** The name a component run from the command line goes by: its file name when that is a valid id. */
export function cliName(wasmPath: string): string {
  const base = basename(wasmPath, '.wasm');
  return isValidId(base) ? base : 'component';
}

function emptyManifest(name: string): ComponentManifest {
  return { name, version: '0.0.0', capabilities: { state: 'none', messaging: false, log: false, secrets: [], http: false, wasi: [] }, limits: {} };
}
