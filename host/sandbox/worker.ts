/**
 * A guest worker: takes jobs from the main thread through shared memory, runs them on the
 * instances it keeps (worker-jobs.ts, worker-instances.ts), and writes back each result with
 * what the job did. Guests never run on the main thread. This file is host code the guest
 * cannot reach: the guest sees only the imports built here. State, messaging and log calls are
 * checked and served here with the main thread's capability code, from the turn's snapshot;
 * secrets cross to the main thread's broker over the bridge, the guest blocking until it answers.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { greenticJcoImports, type GreenticCallSite } from '../capabilities/greentic-interfaces.js';
import { CAPABILITY_FUNCTIONS, HOST_PACKAGE, HOST_VERSION } from '../capabilities/index.js';
import { collectGarbage } from '../util/collect-garbage.js';
import type { WorkerCallScope } from './call-scope.js';
import { readJob, warmJobCodec, writeResult } from './job-codec.js';
import type { NodeHostFunctions } from './node-abi.js';
import {
  BRIDGE_BYTES,
  DONE_SEQ,
  doneLenSlot,
  doneOffset,
  DOORBELL,
  IDLE,
  JOB_BYTES,
  JOB_SEQ,
  jobOffset,
  LEN,
  REQ_SEQ,
  RESP_SEQ,
  type BridgeReply,
  type BridgeRequest,
  type FromWorker,
  type JobResult,
  type ToWorker,
  type TurnPlan,
  type WorkerInit,
} from './protocol.js';
import { WaitKind } from './waiting.js';
import { WorkerInstances } from './worker-instances.js';
import type { ValueBudget } from './value-budget.js';
import { JobRunner } from './worker-jobs.js';

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
const data = Buffer.from(init.data);
const pressure = new Int32Array(init.pressure);
const port = parentPort!;
/** Turn plans received from the main thread, by number. */
const plans = new Map<number, TurnPlan>();
const bridgeWait = new WaitKind(pressure);
const jobWait = new WaitKind(pressure);
/** The number of the job running now (its bridge requests name it). */
let runningJob = 0;

function running(): WorkerCallScope {
  const c = runner.current;
  if (!c) throw new Error('capability call outside a node call');
  return c;
}

/** One synchronous capability round trip to the main thread (secrets). */
function bridgeCall(cap: string, fn: string, args: unknown[]): unknown {
  const request = JSON.stringify([runningJob, running().node, cap, fn, args] satisfies BridgeRequest);
  if (Buffer.byteLength(request) > BRIDGE_BYTES) {
    throw { payload: { tag: 'limit-exceeded', val: `${cap}.${fn}: request of ${Buffer.byteLength(request)} bytes exceeds the ${BRIDGE_BYTES}-byte bridge` } };
  }
  Atomics.store(ctrl, LEN, data.write(request, 0, 'utf8'));
  const seq = Atomics.load(ctrl, REQ_SEQ) + 1;
  Atomics.store(ctrl, REQ_SEQ, seq);
  ring();
  const t0 = performance.now();
  const { ready, spunMs } = bridgeWait.spin(() => Atomics.load(ctrl, RESP_SEQ) === seq);
  if (!ready) while (Atomics.load(ctrl, RESP_SEQ) !== seq) Atomics.wait(ctrl, RESP_SEQ, seq - 1, 50);
  bridgeWait.took(performance.now() - t0, spunMs);
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

/** What a Greentic host interface call of the running node call uses (made on its first such call). */
function greenticSite(): GreenticCallSite {
  const c = running();
  return (c.greentic ??= { scope: c.scope, deadlineAt: c.deadlineAt, requests: 0, cross: bridgeCall });
}

/** The same functions as jco-style imports, under both versioned and bare keys; and the Greentic host interfaces a component imports. */
function jcoImports(hostImports: ReadonlyMap<string, string>): Record<string, unknown> {
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
  return hostImports.size === 0 ? imports : Object.assign(imports, greenticJcoImports(hostImports, greenticSite));
}

const instances: WorkerInstances = new WorkerInstances(
  { jcoImports, leanHost: () => host, valueBudget: (): ValueBudget => runner.budget },
  init.maxInstances,
  init.maxInstanceBytes,
);
const runner: JobRunner = new JobRunner(instances, ctrl, init.epoch);

/** Write a result into the DONE area and ring; a result too large for it becomes a failure. */
function finish(seq: number, result: JobResult): void {
  const at = doneOffset(seq);
  let length = writeResult(data, at, JOB_BYTES, result);
  if (length < 0) {
    length = writeResult(data, at, JOB_BYTES, {
      callId: result.callId,
      ok: false,
      failure: { kind: 'host', code: 'limit-exceeded', message: `the job's result is larger than ${JOB_BYTES} bytes`, retryable: false },
      node: result.ok ? 0 : result.node,
      effects: { working: null, outbox: [], logs: [], denials: [], steps: result.effects.steps },
      evicted: result.evicted,
    } satisfies JobResult);
  }
  Atomics.store(ctrl, doneLenSlot(seq), length);
  Atomics.store(ctrl, DONE_SEQ, seq);
  ring();
}

/**
 * Take jobs for as long as the worker lives, in order. Between jobs: spin for the next one
 * while that pays (waiting.ts), else say so in IDLE and sleep without blocking the event loop.
 */
async function serve(): Promise<void> {
  let taken = 0;
  for (;;) {
    const t0 = performance.now();
    let spunMs = 0;
    if (Atomics.load(ctrl, JOB_SEQ) === taken) spunMs = jobWait.spin(() => Atomics.load(ctrl, JOB_SEQ) !== taken).spunMs;
    if (Atomics.load(ctrl, JOB_SEQ) === taken) {
      Atomics.store(ctrl, IDLE, 1);
      // Idle: make again the spare instances calls took, once no job has come for REFILL_IDLE_MS.
      // Not at once: instantiating a JS guest (~13 ms, and its garbage) right after a call would
      // hold up the job that follows it, and take a core from the end of the turn just answered.
      let refilled = false;
      while (Atomics.load(ctrl, JOB_SEQ) === taken) {
        const waited = Atomics.waitAsync(ctrl, JOB_SEQ, taken, refilled ? Infinity : REFILL_IDLE_MS);
        const outcome = waited.async ? await waited.value : waited.value;
        if (outcome === 'timed-out' && !refilled) {
          refilled = true;
          instances.refill();
        }
      }
      Atomics.store(ctrl, IDLE, 0);
    }
    jobWait.took(performance.now() - t0, spunMs);
    const seq = ++taken;
    runningJob = seq;
    const job = readJob(data, jobOffset(seq), seq, plans);
    finish(seq, 'turn' in job ? await runner.turn(job.turn, job.plan) : await runner.call(job.call));
  }
}

/** How long a worker waits without a job before it makes again the spares calls took. */
const REFILL_IDLE_MS = 50;

/** 'prepare' requests whose spare is still being made. */
let preparing = 0;
/** Modules whose warm-up call was made. */
const warmed = new Set<string>();

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'load')
    instances.load(msg.moduleKey, {
      glueUrl: msg.glueUrl,
      world: msg.world,
      abi: msg.abi,
      hostImports: msg.hostImports,
      memoryBytes: msg.memoryBytes,
      heapBytes: msg.heapBytes,
      modules: new Map(msg.modules),
    });
  else if (msg.type === 'prepare') {
    preparing++;
    const warmUp = warmed.has(msg.moduleKey) ? Promise.resolve() : (warmed.add(msg.moduleKey), runner.warmUp(msg.moduleKey, msg.wasi));
    void Promise.all([warmUp, instances.prepare(msg.moduleKey, msg.wasi)]).then(() => {
      // Instantiation's garbage goes before this worker takes calls, not during its first one:
      // once, when the last spare asked for is made (a worker is asked for one per component).
      if (--preparing === 0) collectGarbage();
      port.postMessage({ type: 'prepared', moduleKey: msg.moduleKey, wasi: msg.wasi } satisfies FromWorker);
    });
  }
});

warmJobCodec();
port.postMessage({ type: 'ready' } satisfies FromWorker);
void serve();
