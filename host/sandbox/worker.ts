/**
 * A guest worker: loads transpiled components, keeps instances per (tenant, env, digest),
 * and runs node calls. Guests never run on the main thread. This file is host code the guest
 * cannot reach: the guest sees only the imports built here, each of which forwards to the
 * main thread's broker over the shared-memory bridge and blocks until it answers, and the
 * per-instance WASI sandbox of wasi-sandbox.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CAPABILITY_FUNCTIONS, HOST_PACKAGE, HOST_VERSION } from '../capabilities/index.js';
import type { ComponentWorld } from '../components/registry.js';
import { GREENTIC_NODE_INTERFACE, GREENTIC_NODE_VERSION, type GreenticNodeExport } from '../greentic/contract.js';
import { GreenticNode } from '../greentic/node-adapter.js';
import { GreenticNodeError } from '../greentic/output.js';
import { BRIDGE_BYTES, LEN, REQ_SEQ, RESP_SEQ, type BridgeReply, type FromWorker, type GuestFailure, type ToWorker, type WorkerInit } from './protocol.js';
import { GuestExit, GuestOutput, wasiImports, type GuestLineSink } from './wasi-sandbox.js';

type CoreInstantiate = (module: WebAssembly.Module, imports?: Record<string, Record<string, unknown>>) => Promise<{ exports: Record<string, unknown> }>;

interface Glue {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
    instantiateCore: CoreInstantiate,
  ): Promise<Record<string, unknown>>;
}

interface NodeExport {
  invoke(ctx: unknown, input: unknown): unknown;
}

/**
 * A live instance: its node export (ours, or a Greentic one behind its adapter), where its
 * stdout/stderr go, and the linear memories its core instances export (to measure and attribute OOM).
 */
interface Instance {
  readonly node: NodeExport | undefined;
  readonly greentic: GreenticNode | undefined;
  readonly output: GuestOutput;
  readonly memories: WebAssembly.Memory[];
  readonly capBytes: number;
}

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
const data = Buffer.from(init.data);
const port = parentPort!;

/** Transpiled glue, imported once per URL (one per component digest). */
const glues = new Map<string, Promise<Glue>>();
/** moduleKey (digest and memory cap) -> its compiled core modules. */
const compiled = new Map<string, { glueUrl: string; world: ComponentWorld; memoryBytes: number; modules: Map<string, WebAssembly.Module> }>();
/** instanceKey -> instance; Map order is recency (re-inserted on use). */
const instances = new Map<string, Instance>();
/** Instances dropped since the last result; reported with it so the main thread knows what is warm. */
let evicted: string[] = [];

/** Take the evicted keys to report. */
function takeEvicted(): string[] {
  const out = evicted;
  evicted = [];
  return out;
}

/** How many spins before sleeping on the futex: a short spin catches fast replies at ~0.5 us. */
const SPIN = 2000;

/** Capability calls the running call may still make. The broker counts too; this saves the crossing. */
let callsLeft = 0;
let callLimit = 0;

/** One synchronous capability round trip to the main thread. */
function bridgeCall(cap: string, fn: string, args: unknown[]): unknown {
  if (--callsLeft < 0) {
    throw { payload: { tag: 'limit-exceeded', val: `${cap}.${fn}: more than ${callLimit} capability calls in one component call` } };
  }
  const request = JSON.stringify([cap, fn, args]);
  if (Buffer.byteLength(request) > BRIDGE_BYTES) {
    throw { payload: { tag: 'limit-exceeded', val: `${cap}.${fn}: request of ${Buffer.byteLength(request)} bytes exceeds the ${BRIDGE_BYTES}-byte bridge` } };
  }
  const written = data.write(request, 0, 'utf8');
  Atomics.store(ctrl, LEN, written);
  const seq = Atomics.load(ctrl, REQ_SEQ) + 1;
  Atomics.store(ctrl, REQ_SEQ, seq);
  Atomics.notify(ctrl, REQ_SEQ);
  let spins = 0;
  while (Atomics.load(ctrl, RESP_SEQ) !== seq) {
    if (++spins < SPIN) continue;
    Atomics.wait(ctrl, RESP_SEQ, seq - 1, 50);
  }
  const reply = JSON.parse(data.toString('utf8', 0, Atomics.load(ctrl, LEN))) as BridgeReply;
  if ('ok' in reply) return reply.ok === null ? undefined : reply.ok;
  if ('err' in reply) throw { payload: reply.err };
  // A host fault: trap the guest rather than hand it a value it cannot trust.
  throw new Error(`capability bridge: ${reply.fatal}`);
}

/**
 * The guest's import object: our capability interfaces under both versioned and bare keys,
 * plus the granted WASI interfaces from a sandbox of this instance's own (wasi-sandbox.ts).
 * Nothing else is supplied, so a component importing anything more fails to instantiate.
 */
async function buildImports(wasi: readonly string[], output: GuestOutput, missing: string[]): Promise<Record<string, unknown>> {
  const imports = await wasiImports(wasi, output, missing);
  for (const [cap, fns] of Object.entries(CAPABILITY_FUNCTIONS)) {
    const slice: Record<string, (...args: unknown[]) => unknown> = {};
    for (const fn of fns) slice[fn] = (...args: unknown[]) => bridgeCall(cap, fn, args);
    imports[`${HOST_PACKAGE}/${cap}`] = slice;
    imports[`${HOST_PACKAGE}/${cap}@${HOST_VERSION}`] = slice;
  }
  return imports;
}

/** The instance for `key`, created if needed; what it writes, from instantiation on, goes to `emit`. */
async function instanceFor(moduleKey: string, key: string, wasi: readonly string[], emit: GuestLineSink): Promise<{ instance: Instance; created: boolean }> {
  const have = instances.get(key);
  if (have) {
    instances.delete(key);
    instances.set(key, have);
    return { instance: have, created: false };
  }
  const loaded = compiled.get(moduleKey);
  if (!loaded) throw new Error(`component ${moduleKey.slice(0, 12)} was not loaded into this worker`);
  let glue = glues.get(loaded.glueUrl);
  if (!glue) {
    glue = import(loaded.glueUrl) as Promise<Glue>;
    glues.set(loaded.glueUrl, glue);
    glue.catch(() => glues.delete(loaded.glueUrl));
  }
  const memories: WebAssembly.Memory[] = [];
  // Instantiate the core modules ourselves, to see the memories they export.
  const instantiateCore: CoreInstantiate = async (module, imports) => {
    const inst = await WebAssembly.instantiate(module, imports);
    for (const v of Object.values(inst.exports)) if (v instanceof WebAssembly.Memory) memories.push(v);
    return inst;
  };
  const getCoreModule = (name: string) => {
    const m = loaded.modules.get(name);
    if (!m) throw new Error(`missing core module ${name}`);
    return m;
  };
  const output = new GuestOutput();
  output.begin(emit);
  const missing: string[] = [];
  let exports: Record<string, unknown>;
  try {
    exports = await (await glue).instantiate(getCoreModule, await buildImports(wasi, output, missing), instantiateCore);
  } catch (e) {
    // jco's glue names only the function; say which interface it belongs to.
    if (missing.length > 0) throw new Error(`it imports ${missing.map((m) => m.replace('#', ' function ')).join(', ')}, which this host does not serve`);
    throw e;
  }
  let instance: Instance;
  if (loaded.world === 'greentic-component-node') {
    const node = (exports[`${GREENTIC_NODE_INTERFACE}@${GREENTIC_NODE_VERSION}`] ?? exports.node) as GreenticNodeExport | undefined;
    if (!node || typeof node.invoke !== 'function' || typeof node.describe !== 'function')
      throw new Error(`component does not export ${GREENTIC_NODE_INTERFACE}`);
    instance = { node: undefined, greentic: new GreenticNode(node), output, memories, capBytes: loaded.memoryBytes };
  } else {
    const node = (exports[`${HOST_PACKAGE}/node@${HOST_VERSION}`] ?? exports.node) as NodeExport | undefined;
    if (!node || typeof node.invoke !== 'function') throw new Error('component does not export greentic:host/node');
    instance = { node, greentic: undefined, output, memories, capBytes: loaded.memoryBytes };
  }
  instances.set(key, instance);
  evictOverBudget();
  return { instance, created: true };
}

function memoryOf(instance: Instance): number {
  return instance.memories.reduce((n, m) => n + m.buffer.byteLength, 0);
}

/** Drop least recently used instances until the count and bytes budgets hold (the newest always stays). */
function evictOverBudget(): void {
  let bytes = 0;
  for (const i of instances.values()) bytes += memoryOf(i);
  for (const [key, i] of instances) {
    if ((instances.size <= init.maxInstances && bytes <= init.maxInstanceBytes) || instances.size === 1) break;
    bytes -= memoryOf(i);
    instances.delete(key);
    evicted.push(key);
  }
}

/**
 * A trap while a memory is within an eighth of its cap (at least 1 MiB) is taken for the guest
 * running out of memory: its `memory.grow` failed against the maximum we wrote into the module,
 * and allocators grow in chunks (SpiderMonkey's run out several MiB before the cap).
 */
function nearCap(instance: Instance): boolean {
  const slack = Math.max(1024 * 1024, instance.capBytes / 8);
  return instance.memories.some((m) => m.buffer.byteLength + slack > instance.capBytes);
}

function classify(e: unknown, instance: Instance): GuestFailure {
  if (e instanceof GuestExit) return { kind: 'exit', status: e.status };
  const payload = typeof e === 'object' && e !== null && Object.hasOwn(e, 'payload') ? (e as { payload: unknown }).payload : e;
  if (typeof payload === 'object' && payload !== null && !(payload instanceof Error)) {
    const p = payload as Record<string, unknown>;
    if (typeof p.code === 'string' && typeof p.message === 'string') {
      return { kind: 'node-error', code: p.code, message: p.message, retryable: p.retryable === true };
    }
  }
  const message = e instanceof Error ? e.message : String(e);
  return { kind: 'trap', message, outOfMemory: nearCap(instance) };
}

function post(msg: FromWorker): void {
  port.postMessage(msg);
}

/** Run the call `msg` asks for on `instance`: a flow node (either world), or describe/raw on a Greentic one. */
function run(instance: Instance, msg: Extract<ToWorker, { type: 'invoke' }>): unknown {
  const g = instance.greentic;
  if (g === undefined) {
    if (msg.kind !== 'node') throw new GreenticNodeError('not-greentic', `component "${msg.info.component}" does not export ${GREENTIC_NODE_INTERFACE}`);
    return instance.node!.invoke(msg.ctx, msg.input);
  }
  if (msg.kind === 'describe') return g.describe();
  if (msg.kind === 'raw') return g.invokeRaw(msg.ctx, msg.raw?.op, msg.raw?.payload, msg.info, msg.input.nodeId);
  return g.invokeNode(msg.ctx, msg.input, msg.info);
}

async function invoke(msg: Extract<ToWorker, { type: 'invoke' }>): Promise<void> {
  const emit: GuestLineSink = (stream, line) => post({ type: 'guest-output', callId: msg.callId, stream, line });
  let inst: { instance: Instance; created: boolean };
  try {
    inst = await instanceFor(msg.moduleKey, msg.instanceKey, msg.wasi, emit);
  } catch (e) {
    post({
      type: 'done',
      callId: msg.callId,
      ok: false,
      failure: { kind: 'instantiate', message: e instanceof Error ? e.message : String(e) },
      evicted: takeEvicted(),
    });
    return;
  }
  callsLeft = callLimit = msg.maxCapabilityCalls;
  const { output } = inst.instance;
  output.begin(emit);
  try {
    const result = run(inst.instance, msg);
    output.end();
    evictOverBudget();
    post({
      type: 'done',
      callId: msg.callId,
      ok: true,
      output: result,
      instantiated: inst.created,
      memoryBytes: memoryOf(inst.instance),
      evicted: takeEvicted(),
    });
  } catch (e) {
    output.end();
    const failure = classify(e, inst.instance);
    // After a trap or an exit an instance cannot be entered again: drop it, the next call gets a fresh one.
    if (failure.kind !== 'node-error') instances.delete(msg.instanceKey);
    post({ type: 'done', callId: msg.callId, ok: false, failure, evicted: takeEvicted() });
  }
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'load':
      compiled.set(msg.moduleKey, { glueUrl: msg.glueUrl, world: msg.world, memoryBytes: msg.memoryBytes, modules: new Map(msg.modules) });
      break;
    case 'invoke':
      void invoke(msg);
      break;
    case 'evict':
      instances.delete(msg.instanceKey);
      break;
  }
});

post({ type: 'ready' });
