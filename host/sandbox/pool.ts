import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { LoadedComponent } from '../components/registry.js';
import { bindCapabilities, isCapabilityFunction, type BoundFunction, type CapabilityName } from '../capabilities/index.js';
import { CapabilityError } from '../capabilities/errors.js';
import type { InvocationScope } from '../capabilities/scope.js';
import type { Logger } from '../observability/logger.js';
import { copyCtx } from '../tenancy/tenant-ctx.js';
import { NodeError } from './errors.js';
import { FairQueue } from './fair-queue.js';
import {
  BRIDGE_BYTES,
  CTRL_INTS,
  LEN,
  REQ_SEQ,
  RESP_SEQ,
  type BridgeReply,
  type FromWorker,
  type NodeInvocation,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';

/** One node call waiting for, or running in, a worker. */
export interface GuestCall {
  readonly component: LoadedComponent;
  readonly scope: InvocationScope;
  readonly input: NodeInvocation;
}

interface Job extends GuestCall {
  readonly tenant: string;
  readonly instanceKey: string;
  resolve(output: unknown): void;
  reject(err: NodeError): void;
}

interface Running {
  readonly job: Job;
  readonly callId: number;
  readonly timer: NodeJS.Timeout;
  bound: Record<CapabilityName, Record<string, BoundFunction>> | undefined;
}

interface GuestWorker {
  readonly id: number;
  readonly worker: Worker;
  readonly ctrl: Int32Array;
  readonly data: Buffer;
  readonly loaded: Set<string>;
  readonly warm: Set<string>;
  ready: boolean;
  alive: boolean;
  running: Running | undefined;
  seenReq: number;
}

export interface WorkerPoolOptions {
  readonly logger: Logger;
  /** Workers that run calls; the pool also keeps one warm spare. Default: available cores, at least 2. */
  readonly size?: number;
  /** Instances each worker keeps warm. */
  readonly maxInstancesPerWorker?: number;
  /** How many calls of one tenant may run at once. */
  readonly tenantConcurrency?: (tenant: string) => number;
  /** Keep a warm spare worker to replace a terminated one at once (default true). */
  readonly spare?: boolean;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * Runs guest calls in worker threads, never on the main thread. Calls queue per tenant and
 * are served round-robin; each has a deadline past which its worker is terminated and a warm
 * spare takes over. Capability calls from guests are answered here, on the main thread, by
 * the scope the call was bound to.
 */
export class WorkerPool {
  readonly #log: Logger;
  readonly #size: number;
  readonly #maxInstances: number;
  readonly #workers: GuestWorker[] = [];
  #spare: GuestWorker | undefined;
  readonly #queue: FairQueue<Job>;
  readonly #keepSpare: boolean;
  #nextWorkerId = 1;
  #nextCallId = 1;
  #closed = false;

  constructor(opts: WorkerPoolOptions) {
    this.#log = opts.logger;
    this.#size = Math.max(1, opts.size ?? Math.max(2, availableParallelism()));
    this.#maxInstances = opts.maxInstancesPerWorker ?? 32;
    this.#keepSpare = opts.spare ?? true;
    this.#queue = new FairQueue<Job>((job) => job.tenant, opts.tenantConcurrency ?? (() => 2));
  }

  /** Start the workers and the spare; resolves when all are ready. */
  async start(): Promise<void> {
    const starting: Promise<void>[] = [];
    for (let i = 0; i < this.#size; i++) starting.push(this.#spawn((w) => this.#workers.push(w)));
    if (this.#keepSpare) starting.push(this.#spawn((w) => (this.#spare = w)));
    await Promise.all(starting);
  }

  /** Run one node call; resolves with the guest's raw output or rejects with a NodeError. */
  invoke(call: GuestCall): Promise<unknown> {
    if (this.#closed) return Promise.reject(new NodeError('unavailable', 'the host is shutting down', true));
    const tenant = call.scope.ctx.tenantId;
    return new Promise<unknown>((resolve, reject) => {
      this.#queue.push({ ...call, tenant, instanceKey: `${tenant}/${call.scope.ctx.envId}/${call.component.digest}`, resolve, reject });
      this.#pump();
    });
  }

  /** Calls waiting, per tenant (for metrics and tests). */
  queued(tenant: string): number {
    return this.#queue.queued(tenant);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.drain()) job.reject(new NodeError('unavailable', 'the host is shutting down', true));
    const all = [...this.#workers, ...(this.#spare ? [this.#spare] : [])];
    this.#workers.length = 0;
    this.#spare = undefined;
    await Promise.all(all.map((w) => this.#retire(w, new NodeError('unavailable', 'the host is shutting down', true))));
  }

  #spawn(place: (w: GuestWorker) => void): Promise<void> {
    const ctrlBuf = new SharedArrayBuffer(CTRL_INTS * 4);
    const dataBuf = new SharedArrayBuffer(BRIDGE_BYTES);
    const init: WorkerInit = { ctrl: ctrlBuf, data: dataBuf, maxInstances: this.#maxInstances };
    const worker = new Worker(WORKER_URL, { workerData: init, resourceLimits: { maxOldGenerationSizeMb: 512 }, stderr: false });
    const w: GuestWorker = {
      id: this.#nextWorkerId++,
      worker,
      ctrl: new Int32Array(ctrlBuf),
      data: Buffer.from(dataBuf),
      loaded: new Set(),
      warm: new Set(),
      ready: false,
      alive: true,
      running: undefined,
      seenReq: 0,
    };
    place(w);
    return new Promise<void>((resolve) => {
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          w.ready = true;
          void this.#serveBridge(w);
          resolve();
          this.#pump();
        } else this.#finish(w, msg);
      });
      worker.on('error', (err) => {
        this.#log.error({ event: 'worker-error', worker: w.id, err: err.message }, 'guest worker failed');
      });
      worker.on('exit', (code) => {
        resolve();
        if (!w.alive) return;
        this.#log.error({ event: 'worker-exit', worker: w.id, code }, 'guest worker exited unexpectedly');
        this.#replace(w, new NodeError('worker-crashed', `the worker running this call stopped (exit code ${code})`, true));
      });
    });
  }

  #pump(): void {
    for (;;) {
      const idle = this.#workers.filter((w) => w.ready && w.alive && !w.running);
      if (idle.length === 0) return;
      const job = this.#queue.next();
      if (!job) return;
      const w = idle.find((x) => x.warm.has(job.instanceKey)) ?? idle.find((x) => x.loaded.has(job.component.digest)) ?? idle[0]!;
      this.#dispatch(w, job);
    }
  }

  #dispatch(w: GuestWorker, job: Job): void {
    const callId = this.#nextCallId++;
    const deadline = job.scope.permissions.limits.deadlineMs;
    const timer = setTimeout(() => {
      this.#log.warn(
        { event: 'deadline-exceeded', worker: w.id, tenant_id: job.tenant, component: job.scope.permissions.component, deadline_ms: deadline },
        'guest call passed its deadline; terminating its worker',
      );
      this.#replace(w, new NodeError('deadline-exceeded', `component "${job.scope.permissions.component}" did not finish within ${deadline} ms`, true));
    }, deadline);
    w.running = { job, callId, timer, bound: undefined };
    if (!w.loaded.has(job.component.digest)) {
      this.#post(w, { type: 'load', digest: job.component.digest, glueUrl: job.component.glueUrl, modules: [...job.component.modules] });
      w.loaded.add(job.component.digest);
    }
    this.#post(w, {
      type: 'invoke',
      callId,
      digest: job.component.digest,
      instanceKey: job.instanceKey,
      ctx: copyCtx(job.scope.ctx),
      input: job.input,
      wasi: [...job.scope.permissions.wasi],
    });
  }

  #post(w: GuestWorker, msg: ToWorker): void {
    w.worker.postMessage(msg);
  }

  #finish(w: GuestWorker, msg: Extract<FromWorker, { type: 'done' }>): void {
    const run = w.running;
    if (!run || run.callId !== msg.callId) return;
    clearTimeout(run.timer);
    w.running = undefined;
    this.#queue.done(run.job);
    if (msg.ok) {
      w.warm.add(run.job.instanceKey);
      run.job.resolve(msg.output);
    } else {
      const f = msg.failure;
      if (f.kind !== 'node-error') w.warm.delete(run.job.instanceKey);
      if (f.kind === 'node-error') run.job.reject(new NodeError(f.code, f.message, f.retryable, true));
      else if (f.kind === 'instantiate') run.job.reject(new NodeError('instantiate-failed', `cannot instantiate component: ${f.message}`, false));
      else run.job.reject(trapError(f.message));
    }
    this.#pump();
  }

  /** Terminate a worker (deadline or crash), fail its call, and promote the spare. */
  #replace(w: GuestWorker, reason: NodeError): void {
    if (!w.alive) return;
    const i = this.#workers.indexOf(w);
    if (i >= 0) this.#workers.splice(i, 1);
    void this.#retire(w, reason);
    if (this.#closed) return;
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare) this.#workers.push(spare);
    void this.#spawn((n) => {
      if (spare) this.#spare = n;
      else this.#workers.push(n);
    });
    this.#pump();
  }

  async #retire(w: GuestWorker, reason: NodeError): Promise<void> {
    w.alive = false;
    const run = w.running;
    w.running = undefined;
    if (run) {
      clearTimeout(run.timer);
      this.#queue.done(run.job);
      run.job.reject(reason);
    }
    // Wake our own bridge loop so it sees the worker is gone.
    Atomics.add(w.ctrl, REQ_SEQ, 0);
    Atomics.notify(w.ctrl, REQ_SEQ);
    await w.worker.terminate();
  }

  /** Answer the worker's capability calls for as long as it lives. */
  async #serveBridge(w: GuestWorker): Promise<void> {
    while (w.alive) {
      const waited = Atomics.waitAsync(w.ctrl, REQ_SEQ, w.seenReq);
      if (waited.async) await waited.value;
      if (!w.alive) return;
      const seq = Atomics.load(w.ctrl, REQ_SEQ);
      if (seq === w.seenReq) continue;
      w.seenReq = seq;
      const run = w.running;
      const reply = await this.#broker(run, w.data.toString('utf8', 0, Atomics.load(w.ctrl, LEN)));
      if (!w.alive || w.running !== run) return;
      let text = JSON.stringify(reply);
      if (Buffer.byteLength(text) > BRIDGE_BYTES) {
        text = JSON.stringify({ err: { tag: 'limit-exceeded', val: `reply larger than the ${BRIDGE_BYTES}-byte bridge` } });
      }
      Atomics.store(w.ctrl, LEN, w.data.write(text, 0, 'utf8'));
      Atomics.store(w.ctrl, RESP_SEQ, seq);
      Atomics.notify(w.ctrl, RESP_SEQ);
    }
  }

  /** Check and run one capability call against the scope its call is bound to. */
  async #broker(run: Running | undefined, request: string): Promise<BridgeReply> {
    if (!run) return { fatal: 'capability call outside a node call' };
    let cap: string, fn: string, args: unknown[];
    try {
      [cap, fn, args] = JSON.parse(request) as [string, string, unknown[]];
    } catch {
      return { fatal: 'malformed capability request' };
    }
    if (!isCapabilityFunction(cap, fn) || !Array.isArray(args)) return { fatal: `unknown capability function ${String(cap)}.${String(fn)}` };
    run.bound ??= bindCapabilities(run.job.scope);
    try {
      const value = await run.bound[cap]![fn]!(args[0], ...args.slice(1));
      return { ok: value === undefined ? null : value };
    } catch (e) {
      if (e instanceof CapabilityError) return { err: e.payload };
      run.job.scope.logger.error({ event: 'capability-fault', capability: `${cap}.${fn}`, err: (e as Error).message }, 'capability failed');
      return { err: { tag: 'unavailable', val: `${cap}.${fn}: internal error` } };
    }
  }
}

function trapError(message: string): NodeError {
  if (/out of memory|could not allocate|memory.grow|Cannot allocate/i.test(message))
    return new NodeError('out-of-memory', `component ran out of memory: ${message}`, false);
  return new NodeError('trap', `component trapped: ${message}`, false);
}
