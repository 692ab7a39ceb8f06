import { performance } from 'node:perf_hooks';
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
  DATA_BYTES,
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
  type CallKind,
  type CallResult,
  type FromWorker,
  type NodeInvocation,
  type RawRequest,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';
import { applyEffects, fixedScopeOf, snapshotOf } from './call-scope.js';
import { readResult, writeCall, type CallTemplate, type CompactCall } from './call-codec.js';

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
  /** performance.now() past which the call's worker is terminated. */
  readonly deadlineAt: number;
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
  seenDone: number;
  /** Call templates this worker has received. */
  readonly templates: Set<number>;
  /** A capability request is being answered (asynchronously). */
  answering: boolean;
  /** A doorbell waiter is pending for this worker. */
  armed: boolean;
  /** 'prepare' requests not yet answered, by spare key. */
  readonly preparing: Map<string, () => void>;
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

const preloadKey = (moduleKey: string, wasi: readonly string[]): string => `${moduleKey}|${[...wasi].sort().join(',')}`;

const isIdle = (w: GuestWorker): boolean => w.ready && w.alive && !w.running;

const WORKER_URL = new URL('./worker.js', import.meta.url);
/** How long the main thread waits, spinning, for the result of a lone call before going back to its event loop. */
const MAIN_SPIN_MS = 0.5;
/** At most this many (component, WASI grants) pairs get a spare instance in every worker: spares cost memory (a JS guest's is ~10 MiB). */
const MAX_PRELOADS = 8;
/** How long a worker may take to make a spare instance before it is replaced (start-up code is guest code too). */
const PREPARE_DEADLINE_MS = 5000;
/** How often running calls' deadlines are checked: a deadline is kept to within this. */
const DEADLINE_TICK_MS = 5;

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
  readonly #templates = new WeakMap<object, Map<string, { id: number; template: CallTemplate }>>();
  #nextTemplateId = 1;
  #nextCallId = 1;
  #closed = false;
  /** What every worker keeps ready: modules loaded and one fresh instance each. */
  readonly #preloads = new Map<string, { component: CompiledComponent; wasi: string[] }>();

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
      this.#queue.push({
        component: call.component,
        scope: call.scope,
        input: call.input,
        kind: call.kind,
        raw: call.raw,
        tenant,
        instanceKey: `${tenant}/${call.scope.ctx.envId}/${call.component.key}`,
        resolve,
        reject,
      });
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
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    for (const job of this.#queue.drain()) job.reject(new NodeError('unavailable', 'the host is shutting down', true));
    const all = [...this.#workers, ...(this.#spare ? [this.#spare] : [])];
    this.#workers.length = 0;
    this.#spare = undefined;
    await Promise.all(all.map((w) => this.#retire(w, new NodeError('unavailable', 'the host is shutting down', true))));
  }

  #spawn(place: (w: GuestWorker) => void): Promise<void> {
    const ctrlBuf = new SharedArrayBuffer(CTRL_INTS * 4);
    const dataBuf = new SharedArrayBuffer(DATA_BYTES);
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
      seenDone: 0,
      templates: new Set(),
      answering: false,
      armed: false,
      preparing: new Map(),
    };
    place(w);
    for (const p of this.#preloads.values()) void this.#prepare(w, p);
    return new Promise<void>((resolve) => {
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          w.ready = true;
          resolve();
          this.#pump();
        } else if (msg.type === 'prepared') {
          const key = preloadKey(msg.moduleKey, msg.wasi);
          w.preparing.get(key)?.();
          w.preparing.delete(key);
        }
      });
      worker.on('error', (err) => {
        this.#log.error({ event: 'worker-error', worker: w.id, err: err.message }, 'guest worker failed');
      });
      worker.on('exit', (code) => {
        resolve();
        for (const done of w.preparing.values()) done();
        w.preparing.clear();
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
    let last: GuestWorker | undefined;
    const started: GuestWorker[] = [];
    for (;;) {
      if (!this.#workers.some(isIdle)) break;
      const job = this.#queue.next();
      if (!job) {
        this.#wakeForRate();
        break;
      }
      this.#bucket(job.tenant)?.take();
      const w = this.#pick(job);
      this.#dispatch(w, job);
      started.push(w);
      last = w;
    }
    // With one call in flight, wait for it right here for a moment: a quick call's result is
    // then taken at once, not on the next event-loop turn.
    if (last && !this.#spinning && this.#workers.every((w) => w === last || !w.running)) this.#spin(last);
    // Whatever is still running waits on its doorbell instead.
    for (const w of started) if (w.running) void this.#arm(w);
  }

  /** The idle worker for `job`: one with its instance warm, else one with its modules loaded, else any. */
  #pick(job: Job): GuestWorker {
    let loaded: GuestWorker | undefined;
    let any: GuestWorker | undefined;
    for (const w of this.#workers) {
      if (!isIdle(w)) continue;
      if (w.warm.has(job.instanceKey)) return w;
      if (!loaded && w.loaded.has(job.component.key)) loaded = w;
      any ??= w;
    }
    return (loaded ?? any)!;
  }

  #spinning = false;

  #spin(w: GuestWorker): void {
    this.#spinning = true;
    try {
      const until = performance.now() + MAIN_SPIN_MS;
      while (w.alive && w.running && performance.now() < until) {
        if (Atomics.load(w.ctrl, DONE_SEQ) !== w.seenDone || Atomics.load(w.ctrl, REQ_SEQ) !== w.seenReq) {
          this.#service(w);
          if (w.answering) break;
        }
      }
    } finally {
      this.#spinning = false;
    }
  }

  #ticker: NodeJS.Timeout | undefined;

  /**
   * One timer for every running call's deadline, checked every few milliseconds while calls
   * run (cheaper than a timer per call, and it keeps the event loop alive while the pool
   * waits on shared memory, which alone would not).
   */
  #tick(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => {
      const now = performance.now();
      let busy = false;
      for (const w of [...this.#workers]) {
        const run = w.running;
        if (!run) continue;
        busy = true;
        if (now < run.deadlineAt) continue;
        const deadline = run.job.scope.permissions.limits.deadlineMs;
        run.job.scope.logger.warn(
          { event: 'deadline-exceeded', worker: w.id, deadline_ms: deadline },
          'guest call passed its deadline; terminating its worker',
        );
        this.#replace(w, new NodeError('deadline-exceeded', `component "${run.job.scope.permissions.component}" did not finish within ${deadline} ms`, true));
      }
      if (!busy) {
        clearInterval(this.#ticker);
        this.#ticker = undefined;
      }
    }, DEADLINE_TICK_MS);
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
    w.running = { job, callId, deadlineAt: performance.now() + deadline, bound: undefined };
    this.#tick();
    const c = job.component;
    this.#load(w, c);
    const deadlineAt = Date.now() + deadline;
    const scope = job.scope;
    let call: CompactCall | CallJob;
    if ((job.kind ?? 'node') === 'node') {
      const { id, template } = this.#template(job);
      call = {
        callId,
        templateId: id,
        template: w.templates.has(id) ? undefined : template,
        sessionId: scope.ctx.sessionId,
        userId: scope.ctx.userId,
        traceId: scope.ctx.traceId,
        text: job.input.message.text,
        resumed: job.input.resumed,
        deadlineAt,
        working: [...scope.turn.working],
      };
      w.templates.add(id);
    } else {
      call = {
        callId,
        kind: job.kind!,
        moduleKey: c.key,
        instanceKey: job.instanceKey,
        ctx: copyCtx(scope.ctx),
        input: job.input,
        info: { flow: scope.flow, component: scope.permissions.component, deadlineAt },
        raw: job.raw,
        wasi: [...scope.permissions.wasi],
        scope: snapshotOf(scope),
      };
    }
    const len = writeCall(w.data, JOB_OFFSET, JOB_BYTES, call);
    if (len < 0) {
      this.#settle(w, new NodeError('limit-exceeded', `the call (with the session's state) is larger than ${JOB_BYTES} bytes`, false));
      return;
    }
    Atomics.store(w.ctrl, JOB_LEN, len);
    Atomics.store(w.ctrl, JOB_SEQ, callId);
    Atomics.notify(w.ctrl, JOB_SEQ);
  }

  /**
   * The template of a node call: everything but the per-call parts, numbered once per distinct
   * (permissions, scope, node) and sent to each worker once. Keyed by the permissions object,
   * which a tenant runtime computes once per environment and component.
   */
  #template(job: Job): { id: number; template: CallTemplate } {
    const s = job.scope;
    let channels = '';
    for (const c of s.teamChannels) channels += `${c},`;
    const key = `${s.ctx.tenantId}\n${s.ctx.envId}\n${s.ctx.teamId ?? ''}\n${s.channel}\n${s.flow}\n${s.node}\n${job.component.key}\n${job.input.nodeId}\n${channels}\n${job.input.config}`;
    let byKey = this.#templates.get(s.permissions);
    if (!byKey) {
      byKey = new Map();
      this.#templates.set(s.permissions, byKey);
    }
    let t = byKey.get(key);
    if (!t) {
      const session = s.session;
      t = {
        id: this.#nextTemplateId++,
        template: {
          moduleKey: job.component.key,
          instanceKey: job.instanceKey,
          tenantId: s.ctx.tenantId,
          envId: s.ctx.envId,
          teamId: s.ctx.teamId,
          nodeId: job.input.nodeId,
          config: job.input.config,
          info: { flow: s.flow, component: s.permissions.component },
          wasi: [...s.permissions.wasi],
          fixed: fixedScopeOf(s),
          sessionBase: { tenant: session.tenant, env: session.env, team: session.team },
        },
      };
      byKey.set(key, t);
    }
    return t;
  }

  /** Send `c`'s compiled modules to `w` unless it has them. */
  #load(w: GuestWorker, c: CompiledComponent): void {
    if (w.loaded.has(c.key)) return;
    this.#post(w, {
      type: 'load',
      moduleKey: c.key,
      glueUrl: c.component.glueUrl,
      world: c.component.world,
      memoryBytes: c.memoryBytes,
      heapBytes: c.heapBytes,
      modules: [...c.modules],
    });
    w.loaded.add(c.key);
  }

  /**
   * Get every worker (the spare and later replacements too) ready for `component` with these
   * WASI grants: its modules loaded and a fresh instance made, so the first call of a tenant
   * that uses it does not wait for instantiation.
   */
  async preload(component: CompiledComponent, wasi: readonly string[]): Promise<void> {
    const key = preloadKey(component.key, wasi);
    if (this.#preloads.has(key) || this.#preloads.size >= MAX_PRELOADS || this.#closed) return;
    const p = { component, wasi: [...wasi] };
    this.#preloads.set(key, p);
    await Promise.all(this.#everyWorker().map((w) => this.#prepare(w, p)));
  }

  /**
   * Ask `w` for a spare of `p`; resolves when it has one (or gave up, or died). A component
   * whose start-up does not finish in PREPARE_DEADLINE_MS is never prepared again, and the
   * worker stuck in it is replaced: no tenant's start-up code can wedge the pool.
   */
  #prepare(w: GuestWorker, p: { component: CompiledComponent; wasi: string[] }): Promise<void> {
    this.#load(w, p.component);
    const key = preloadKey(p.component.key, p.wasi);
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (!w.preparing.has(key)) return;
        w.preparing.delete(key);
        resolve();
        this.#preloads.delete(key);
        this.#log.warn(
          { event: 'prepare-timeout', worker: w.id, digest: p.component.component.digest, ms: PREPARE_DEADLINE_MS },
          'a component did not start within the preparation deadline; its instances are made on demand only',
        );
        const reason = new NodeError('worker-crashed', 'the worker running this call was stopped: it was stuck starting another component', true);
        if (w === this.#spare) this.#replaceSpare(w, reason);
        else this.#replace(w, reason);
      }, PREPARE_DEADLINE_MS);
      timer.unref();
      w.preparing.set(key, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#post(w, { type: 'prepare', moduleKey: p.component.key, wasi: p.wasi });
    return done;
  }

  /** Terminate the spare and start another. */
  #replaceSpare(w: GuestWorker, reason: NodeError): void {
    this.#spare = undefined;
    void this.#retire(w, reason);
    if (!this.#closed) void this.#spawn((n) => (this.#spare = n));
  }

  #everyWorker(): GuestWorker[] {
    return this.#spare ? [...this.#workers, this.#spare] : [...this.#workers];
  }

  #post(w: GuestWorker, msg: ToWorker): void {
    w.worker.postMessage(msg);
  }

  /** Take what the worker posted: a capability request to answer, and/or the running call's result. */
  #service(w: GuestWorker): void {
    const req = Atomics.load(w.ctrl, REQ_SEQ);
    if (req !== w.seenReq && !w.answering) {
      w.seenReq = req;
      w.answering = true;
      void this.#answer(w, req);
    }
    const done = Atomics.load(w.ctrl, DONE_SEQ);
    if (done !== w.seenDone) {
      w.seenDone = done;
      const result = readResult(w.data, DONE_OFFSET, done);
      this.#finish(w, result);
    }
  }

  #finish(w: GuestWorker, result: CallResult): void {
    const run = w.running;
    if (!run || run.callId !== result.callId) return;
    for (const key of result.evicted) w.warm.delete(key);
    applyEffects(run.job.scope, result.effects);
    if (result.ok) {
      w.warm.add(run.job.instanceKey);
      this.#settle(w, undefined, result.output);
    } else {
      if (result.failure.kind !== 'node-error') w.warm.delete(run.job.instanceKey);
      this.#settle(w, failureError(result.failure, run.job.scope.permissions.component, run.job.scope.permissions.limits.memoryMib));
    }
  }

  /** End the running call of `w` with `error`, or with `output`, and start the next ones. */
  #settle(w: GuestWorker, error: NodeError | undefined, output?: unknown): void {
    const run = w.running;
    if (!run) return;
    w.running = undefined;
    this.#queue.done(run.job);
    if (error) run.job.reject(error);
    else run.job.resolve(output);
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
      this.#queue.done(run.job);
      run.job.reject(reason);
    }
    // Wake the doorbell waiter so it sees the worker is gone.
    Atomics.add(w.ctrl, DOORBELL, 1);
    Atomics.notify(w.ctrl, DOORBELL);
    await w.worker.terminate();
  }

  /**
   * Wait on the worker's doorbell while it runs a call: its capability requests and its
   * result ring it. Armed only for calls that outlast the spin in `#pump`, so a quick call
   * costs no waiter at all; the loop ends when the worker goes idle or dies.
   */
  async #arm(w: GuestWorker): Promise<void> {
    if (w.armed) return;
    w.armed = true;
    try {
      while (w.alive && w.running) {
        const bell = Atomics.load(w.ctrl, DOORBELL);
        this.#service(w);
        if (!w.alive || !w.running) break;
        const waited = Atomics.waitAsync(w.ctrl, DOORBELL, bell);
        if (waited.async) await waited.value;
      }
    } finally {
      w.armed = false;
    }
  }

  /** Answer capability request `seq` of `w` (the broker may have to await a store). */
  async #answer(w: GuestWorker, seq: number): Promise<void> {
    const run = w.running;
    const reply = await this.#broker(run, w.data.toString('utf8', 0, Atomics.load(w.ctrl, LEN)));
    w.answering = false;
    if (!w.alive || w.running !== run) return;
    let text = JSON.stringify(reply);
    if (Buffer.byteLength(text) > BRIDGE_BYTES) {
      text = JSON.stringify({ err: { tag: 'limit-exceeded', val: `reply larger than the ${BRIDGE_BYTES}-byte bridge` } });
    }
    Atomics.store(w.ctrl, LEN, w.data.write(text, 0, 'utf8'));
    Atomics.store(w.ctrl, RESP_SEQ, seq);
    Atomics.notify(w.ctrl, RESP_SEQ);
    // A request that arrived while this one was answered.
    this.#service(w);
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
