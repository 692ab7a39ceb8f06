import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { CompiledComponent } from '../components/registry.js';
import { bindCapabilities, isCapabilityFunction, type BoundFunction, type CapabilityName } from '../capabilities/index.js';
import { CapabilityError } from '../capabilities/errors.js';
import type { InvocationScope } from '../capabilities/scope.js';
import type { Logger } from '../observability/logger.js';
import { copyCtx } from '../tenancy/tenant-ctx.js';
import { failureError, NodeError } from './errors.js';
import { FairQueue } from './fair-queue.js';
import { TokenBucket } from './rate-limit.js';
import {
  BRIDGE_BYTES,
  CTRL_INTS,
  LEN,
  REQ_SEQ,
  RESP_SEQ,
  type BridgeReply,
  type CallKind,
  type FromWorker,
  type NodeInvocation,
  type RawRequest,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';

/** One node call waiting for, or running in, a worker. */
export interface GuestCall {
  readonly component: CompiledComponent;
  readonly scope: InvocationScope;
  readonly input: NodeInvocation;
  /** A flow node call unless said otherwise; `describe` and `raw` are for Greentic components. */
  readonly kind?: CallKind;
  readonly raw?: RawRequest;
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
  /** Linear-memory bytes the warm instances of one worker may hold together. */
  readonly maxInstanceBytesPerWorker?: number;
  /**
   * How many calls of one tenant may run at once. Capped at one less than the pool size, so
   * a tenant whose calls all hang never holds every worker.
   */
  readonly tenantConcurrency?: (tenant: string) => number;
  /** Sustained calls per second a tenant may start (burst: twice that); unlimited when undefined. */
  readonly tenantRate?: (tenant: string) => number | undefined;
  /** Calls one tenant may have waiting; more are refused at once with a retryable error. */
  readonly maxQueuedPerTenant?: number;
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
  readonly #maxInstanceBytes: number;
  readonly #workers: GuestWorker[] = [];
  #spare: GuestWorker | undefined;
  readonly #queue: FairQueue<Job>;
  readonly #keepSpare: boolean;
  readonly #concurrency: (tenant: string) => number;
  readonly #rate: (tenant: string) => number | undefined;
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #maxQueued: number;
  #rateTimer: NodeJS.Timeout | undefined;
  #nextWorkerId = 1;
  #nextCallId = 1;
  #closed = false;

  constructor(opts: WorkerPoolOptions) {
    this.#log = opts.logger;
    this.#size = Math.max(1, opts.size ?? Math.max(2, availableParallelism()));
    this.#maxInstances = opts.maxInstancesPerWorker ?? 32;
    this.#maxInstanceBytes = opts.maxInstanceBytesPerWorker ?? 1024 * 1024 * 1024;
    this.#keepSpare = opts.spare ?? true;
    const configured = opts.tenantConcurrency ?? (() => 2);
    const ceiling = Math.max(1, this.#size - 1);
    this.#concurrency = (t) => Math.max(1, Math.min(configured(t), ceiling));
    this.#rate = opts.tenantRate ?? (() => undefined);
    this.#maxQueued = opts.maxQueuedPerTenant ?? 1000;
    this.#queue = new FairQueue<Job>(
      (job) => job.tenant,
      (tenant, running) => running < this.#concurrency(tenant) && (this.#bucket(tenant)?.available() ?? true),
    );
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
    if (this.#queue.queued(tenant) >= this.#maxQueued) {
      return Promise.reject(new NodeError('limit-exceeded', `tenant "${tenant}" has ${this.#maxQueued} calls waiting already; try again later`, true));
    }
    return new Promise<unknown>((resolve, reject) => {
      this.#queue.push({ ...call, tenant, instanceKey: `${tenant}/${call.scope.ctx.envId}/${call.component.key}`, resolve, reject });
      this.#pump();
    });
  }

  /** Instances kept warm, per tenant, across the workers. */
  liveInstances(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const w of this.#workers) {
      for (const key of w.warm) {
        const tenant = key.slice(0, key.indexOf('/'));
        counts.set(tenant, (counts.get(tenant) ?? 0) + 1);
      }
    }
    return counts;
  }

  /** Calls waiting, per tenant (for metrics and tests). */
  queued(tenant: string): number {
    return this.#queue.queued(tenant);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#rateTimer);
    for (const job of this.#queue.drain()) job.reject(new NodeError('unavailable', 'the host is shutting down', true));
    const all = [...this.#workers, ...(this.#spare ? [this.#spare] : [])];
    this.#workers.length = 0;
    this.#spare = undefined;
    await Promise.all(all.map((w) => this.#retire(w, new NodeError('unavailable', 'the host is shutting down', true))));
  }

  #spawn(place: (w: GuestWorker) => void): Promise<void> {
    const ctrlBuf = new SharedArrayBuffer(CTRL_INTS * 4);
    const dataBuf = new SharedArrayBuffer(BRIDGE_BYTES);
    const init: WorkerInit = { ctrl: ctrlBuf, data: dataBuf, maxInstances: this.#maxInstances, maxInstanceBytes: this.#maxInstanceBytes };
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
        } else if (msg.type === 'guest-output') {
          // Only the running call's lines, under its scope (tenant, env, team, session, trace, flow, node).
          if (w.running?.callId === msg.callId) w.running.job.scope.logger.info({ event: `guest-${msg.stream}` }, msg.line);
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

  /** The tenant's rate-limit bucket, if it has a rate. */
  #bucket(tenant: string): TokenBucket | undefined {
    const rate = this.#rate(tenant);
    if (rate === undefined) return undefined;
    let b = this.#buckets.get(tenant);
    if (!b || b.ratePerSec !== rate) {
      b = new TokenBucket(rate, Math.max(1, 2 * rate));
      this.#buckets.set(tenant, b);
    }
    return b;
  }

  #pump(): void {
    for (;;) {
      const idle = this.#workers.filter((w) => w.ready && w.alive && !w.running);
      if (idle.length === 0) return;
      const job = this.#queue.next();
      if (!job) {
        this.#wakeForRate();
        return;
      }
      this.#bucket(job.tenant)?.take();
      const w = idle.find((x) => x.warm.has(job.instanceKey)) ?? idle.find((x) => x.loaded.has(job.component.key)) ?? idle[0]!;
      this.#dispatch(w, job);
    }
  }

  /** Queued tenants held back only by their rate: pump again when the first gets a token. */
  #wakeForRate(): void {
    if (this.#rateTimer || this.#closed) return;
    const waits = this.#queue
      .waitingTenants()
      .map((t) => this.#bucket(t)?.waitMs() ?? 0)
      .filter((ms) => ms > 0);
    if (waits.length === 0) return;
    this.#rateTimer = setTimeout(
      () => {
        this.#rateTimer = undefined;
        this.#pump();
      },
      Math.min(...waits),
    );
  }

  #dispatch(w: GuestWorker, job: Job): void {
    const callId = this.#nextCallId++;
    const deadline = job.scope.permissions.limits.deadlineMs;
    const timer = setTimeout(() => {
      job.scope.logger.warn({ event: 'deadline-exceeded', worker: w.id, deadline_ms: deadline }, 'guest call passed its deadline; terminating its worker');
      this.#replace(w, new NodeError('deadline-exceeded', `component "${job.scope.permissions.component}" did not finish within ${deadline} ms`, true));
    }, deadline);
    w.running = { job, callId, timer, bound: undefined };
    const c = job.component;
    if (!w.loaded.has(c.key)) {
      this.#post(w, {
        type: 'load',
        moduleKey: c.key,
        glueUrl: c.component.glueUrl,
        world: c.component.world,
        memoryBytes: c.memoryBytes,
        modules: [...c.modules],
      });
      w.loaded.add(c.key);
    }
    this.#post(w, {
      type: 'invoke',
      callId,
      kind: job.kind ?? 'node',
      moduleKey: c.key,
      instanceKey: job.instanceKey,
      ctx: copyCtx(job.scope.ctx),
      input: job.input,
      info: { flow: job.scope.flow, component: job.scope.permissions.component, deadlineAt: Date.now() + deadline },
      raw: job.raw,
      wasi: [...job.scope.permissions.wasi],
      maxCapabilityCalls: job.scope.permissions.limits.maxCapabilityCalls,
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
    for (const key of msg.evicted) w.warm.delete(key);
    if (msg.ok) {
      w.warm.add(run.job.instanceKey);
      run.job.resolve(msg.output);
    } else {
      if (msg.failure.kind !== 'node-error') w.warm.delete(run.job.instanceKey);
      run.job.reject(failureError(msg.failure, run.job.scope.permissions.component, run.job.scope.permissions.limits.memoryMib));
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
