/**
 * A guest worker: takes calls from the main thread through shared memory, runs them on the
 * instances it keeps (worker-instances.ts), and writes back each result with what the call did.
 * Guests never run on the main thread. This file is host code the guest cannot reach: the guest
 * sees only the imports built here. State, messaging and log calls are checked and served here
 * with the main thread's capability code, from the call's snapshot (call-scope.ts); secrets
 * cross to the main thread's broker over the bridge, the guest blocking until it answers.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { CAPABILITY_FUNCTIONS, HOST_PACKAGE, HOST_VERSION } from '../capabilities/index.js';
import { GREENTIC_NODE_INTERFACE } from '../greentic/contract.js';
import { GreenticNodeError } from '../greentic/output.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import { WorkerCallScope } from './call-scope.js';
import { readCall, writeResult, type CallTemplate } from './call-codec.js';

/** Call templates received from the main thread, by number. */
const templates = new Map<number, CallTemplate>();
import type { NodeHostFunctions } from './node-abi.js';
import {
  BRIDGE_BYTES,
  DONE_LEN,
  DONE_OFFSET,
  DONE_SEQ,
  DOORBELL,
  JOB_BYTES,
  JOB_LEN,
  JOB_OFFSET,
  JOB_SEQ,
  LEN,
  REQ_SEQ,
  RESP_SEQ,
  type BridgeReply,
  type CallJob,
  type CallResult,
  type FromWorker,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';
import { classify, WorkerInstances, type Instance } from './worker-instances.js';
import type { GuestLineSink } from './wasi-sandbox.js';
import { collectGarbage } from '../util/collect-garbage.js';
import { ValueBudget, ValueLimitError } from './value-budget.js';

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
const data = Buffer.from(init.data);
const port = parentPort!;

/** How long to spin for a bridge reply or the next call before sleeping: a hand-off caught spinning costs ~0.5 us, a futex wake ~25 us. */
const SPIN_MS = 1;

/** The call running now: its scope in this worker (null between calls). */
let current: WorkerCallScope | null = null;
/** What the running call may still hand the host in strings and lists (between calls: instantiation's). */
let budget = ValueBudget.startup();

function running(): WorkerCallScope {
  if (!current) throw new Error('capability call outside a node call');
  return current;
}

/** One synchronous capability round trip to the main thread (secrets). */
function bridgeCall(cap: string, fn: string, args: unknown[]): unknown {
  const request = JSON.stringify([cap, fn, args]);
  if (Buffer.byteLength(request) > BRIDGE_BYTES) {
    throw { payload: { tag: 'limit-exceeded', val: `${cap}.${fn}: request of ${Buffer.byteLength(request)} bytes exceeds the ${BRIDGE_BYTES}-byte bridge` } };
  }
  Atomics.store(ctrl, LEN, data.write(request, 0, 'utf8'));
  const seq = Atomics.load(ctrl, REQ_SEQ) + 1;
  Atomics.store(ctrl, REQ_SEQ, seq);
  ring();
  const until = performance.now() + SPIN_MS;
  while (Atomics.load(ctrl, RESP_SEQ) !== seq) {
    if (performance.now() > until) Atomics.wait(ctrl, RESP_SEQ, seq - 1, 50);
  }
  const reply = JSON.parse(data.toString('utf8', 0, Atomics.load(ctrl, LEN))) as BridgeReply;
  if ('ok' in reply) return reply.ok === null ? undefined : reply.ok;
  if ('err' in reply) throw { payload: reply.err };
  // A host fault: trap the guest rather than hand it a value it cannot trust.
  throw new Error(`capability bridge: ${reply.fatal}`);
}

/** Tell the main thread there is something for it (a request or a result). */
function ring(): void {
  Atomics.add(ctrl, DOORBELL, 1);
  Atomics.notify(ctrl, DOORBELL);
}

/** The capability functions, each checked against the running call's scope. */
const host: NodeHostFunctions = {
  secretsGet: (ctx, name) => {
    // The ctx check and the call count happen here too; the grant and the store are the main thread's.
    running().scope.enter('secrets', 'get', ctx);
    return bridgeCall('secrets', 'get', [ctx, name]) as string;
  },
  stateGet: (ctx, key) => running().state.get(ctx, key),
  stateSet: (ctx, key, value) => running().state.set(ctx, key, value),
  stateDelete: (ctx, key) => running().state.delete(ctx, key),
  stateListKeys: (ctx) => running().state.listKeys(ctx),
  messagingSend: (ctx, channel, text) => running().messaging.send(ctx, channel, text),
  logWrite: (ctx, level, message) => running().log.write(ctx, level, message),
};

/** The same functions as jco-style imports, under both versioned and bare keys. */
function jcoImports(): Record<string, unknown> {
  const byName: Record<string, Record<string, (...a: never[]) => unknown>> = {
    secrets: { get: host.secretsGet },
    state: { get: host.stateGet, set: host.stateSet, delete: host.stateDelete, listKeys: host.stateListKeys },
    messaging: { send: host.messagingSend },
    log: { write: host.logWrite },
  };
  const imports: Record<string, unknown> = {};
  for (const cap of Object.keys(CAPABILITY_FUNCTIONS)) {
    imports[`${HOST_PACKAGE}/${cap}`] = byName[cap];
    imports[`${HOST_PACKAGE}/${cap}@${HOST_VERSION}`] = byName[cap];
  }
  return imports;
}

const instances = new WorkerInstances({ jcoImports, leanHost: () => host, valueBudget: () => budget }, init.maxInstances, init.maxInstanceBytes);

/** Run what `job` asks of `instance`: a flow node (either world), or describe/raw on a Greentic one. */
function run(instance: Instance, job: CallJob): unknown {
  const g = instance.greentic;
  if (g === undefined) {
    if (job.kind !== 'node') throw new GreenticNodeError('not-greentic', `component "${job.info.component}" does not export ${GREENTIC_NODE_INTERFACE}`);
    return instance.node!.invoke(job.ctx, job.input);
  }
  if (job.kind === 'describe') return g.describe();
  if (job.kind === 'raw') return g.invokeRaw(job.ctx, job.raw?.op, job.raw?.payload, job.info, job.input.nodeId);
  return g.invokeNode(job.ctx, job.input, job.info);
}

async function call(job: CallJob): Promise<CallResult> {
  const ws = new WorkerCallScope(job.ctx as TenantCtx, job.scope);
  budget = ValueBudget.of(ws.scope.permissions.component, ws.scope.permissions.limits);
  // The guest's stdout/stderr lines become the call's log lines, under its scope.
  const emit: GuestLineSink = (stream, line) => ws.scope.logger.info({ event: `guest-${stream}` }, line);
  let got: { instance: Instance; created: boolean };
  try {
    got = await instances.get(job.moduleKey, job.instanceKey, job.wasi, emit);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    budget = ValueBudget.startup();
    return { callId: job.callId, ok: false, failure: e instanceof ValueLimitError ? { kind: 'limit', message } : { kind: 'instantiate', message }, evicted: instances.takeEvicted(), effects: ws.effects() };
  }
  const { instance } = got;
  instance.output.begin(emit);
  current = ws;
  try {
    const output = run(instance, job);
    instances.evictOverBudget();
    return {
      callId: job.callId,
      ok: true,
      output,
      instantiated: got.created,
      memoryBytes: instances.memoryOf(instance),
      evicted: instances.takeEvicted(),
      effects: ws.effects(),
    };
  } catch (e) {
    const failure = classify(e, instance);
    // After a trap or an exit an instance cannot be entered again: drop it, the next call gets a fresh one.
    if (failure.kind !== 'node-error') instances.drop(job.instanceKey);
    return { callId: job.callId, ok: false, failure, evicted: instances.takeEvicted(), effects: ws.effects() };
  } finally {
    current = null;
    budget = ValueBudget.startup();
    instance.output.end();
  }
}

/** Write a result into the DONE area and ring; a result too large for it becomes a failure. */
function finish(seq: number, result: CallResult): void {
  let len = writeResult(data, DONE_OFFSET, JOB_BYTES, result);
  if (len < 0) {
    len = writeResult(data, DONE_OFFSET, JOB_BYTES, {
      callId: result.callId,
      ok: false,
      failure: { kind: 'node-error', code: 'limit-exceeded', message: `the call's result is larger than ${JOB_BYTES} bytes`, retryable: false },
      evicted: [],
      effects: { working: null, outbox: [], logs: [], denials: [], capabilityCalls: 0, outputBytes: 0 },
    } satisfies CallResult);
  }
  Atomics.store(ctrl, DONE_LEN, len);
  Atomics.store(ctrl, DONE_SEQ, seq);
  ring();
}

/** Take calls for as long as the worker lives: spin briefly for the next one, then sleep without blocking the event loop. */
async function serve(): Promise<void> {
  let last = 0;
  for (;;) {
    let seq = Atomics.load(ctrl, JOB_SEQ);
    if (seq === last) {
      const until = performance.now() + SPIN_MS;
      while ((seq = Atomics.load(ctrl, JOB_SEQ)) === last && performance.now() < until);
    }
    // Idle: make again the spare instances calls took.
    if (seq === last) instances.refill();
    while (seq === last) {
      const waited = Atomics.waitAsync(ctrl, JOB_SEQ, last);
      if (waited.async) await waited.value;
      seq = Atomics.load(ctrl, JOB_SEQ);
    }
    last = seq;
    const job = readCall(data, JOB_OFFSET, seq, templates);
    finish(seq, await call(job));
  }
}

/** 'prepare' requests whose spare is still being made. */
let preparing = 0;

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'load')
    instances.load(msg.moduleKey, { glueUrl: msg.glueUrl, world: msg.world, memoryBytes: msg.memoryBytes, heapBytes: msg.heapBytes, modules: new Map(msg.modules) });
  else if (msg.type === 'prepare') {
    preparing++;
    void instances.prepare(msg.moduleKey, msg.wasi).then(() => {
      // Instantiation's garbage goes before this worker takes calls, not during its first one:
      // once, when the last spare asked for is made (a worker is asked for one per component).
      if (--preparing === 0) collectGarbage();
      port.postMessage({ type: 'prepared', moduleKey: msg.moduleKey, wasi: msg.wasi } satisfies FromWorker);
    });
  }
});

port.postMessage({ type: 'ready' } satisfies FromWorker);
void serve();
