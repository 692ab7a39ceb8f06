import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { CompiledComponent } from '../components/registry.js';
import type { Logger } from '../observability/logger.js';
import type { Permissions } from '../tenancy/grants.js';
import { Doorbell } from './doorbell.js';
import { DeadlineWatch } from './deadlines.js';
import { NodeError } from './errors.js';
import { THREAD_TRANSPORT, type GuestWorker, type WorkerSettings, type WorkerTransport } from './guest-worker.js';
import { warmJobCodec, writeJob } from './job-codec.js';
import type { PlannedTurn, PoolJob, TurnOutcome, TurnRequest } from './jobs.js';
import { PlanBook } from './plans.js';
import { callJob, TurnPoolJob, type GuestCall } from './pool-jobs.js';
import { JOB_BYTES, JOB_SLOTS, jobOffset, PRESSURE_INTS, STEP_NODE, type JobResult, type TurnPlan } from './protocol.js';
import { TenantScheduler } from './scheduler.js';
import { Spares } from './spares.js';
import { CpuSampler, WaitKind } from './waiting.js';

export type { GuestCall } from './pool-jobs.js';

export interface GuestPoolOptions {
  readonly logger: Logger;
  /** Workers that run jobs; the pool also keeps one warm spare. Default: available cores, at least 2. */
  readonly size?: number;
  /** Instances each worker keeps warm. */
  readonly maxInstancesPerWorker?: number;
  /** Linear-memory bytes the warm instances of one worker may hold together. */
  readonly maxInstanceBytesPerWorker?: number;
  /** How many jobs of one tenant may run at once; undefined: every worker (scheduler.ts says what keeps one free for others). */
  readonly tenantConcurrency?: (tenant: string) => number | undefined;
  /** Sustained jobs per second a tenant may start (burst: twice that); unlimited when undefined. */
  readonly tenantRate?: (tenant: string) => number | undefined;
  /** Jobs one tenant may have waiting; more are refused at once with a retryable error. */
  readonly maxQueuedPerTenant?: number;
  /** Keep a warm spare worker to replace a terminated one at once (default true). */
  readonly spare?: boolean;
  /** Threads of this process (the default) or of child processes. */
  readonly transport?: WorkerTransport;
  /** The worker threads' V8 old-generation cap (MiB); 512 when not given. */
  readonly heapMib?: number;
  /** A worker died unexpectedly (not retired by the pool): `tenant` is the tenant of the call it ran, if any. */
  readonly onWorkerExit?: (tenant: string | undefined, how: string) => void;
}

interface Running {
  readonly job: PoolJob;
  readonly callId: number;
  readonly at: number;
}

const shuttingDown = () => new NodeError('unavailable', 'the host is shutting down', true);

/**
 * Runs guest jobs (a whole turn, or one call) in worker threads, never on the main thread
 * (in the process tier, threads of a child process: transport).
 * Jobs queue per tenant and are served round-robin (scheduler.ts); every node call has a
 * deadline past which its worker is terminated and a warm spare takes over (deadlines.ts);
 * capability calls that need a main-thread store cross the bridge (bridge.ts); both sides wait
 * adaptively (waiting.ts).
 */
export class GuestPool {
  readonly #log: Logger;
  readonly #size: number;
  readonly #settings: WorkerSettings;
  readonly #workers: GuestWorker[] = [];
  /** The jobs each busy worker holds, in order: the one it runs, and the next (protocol.ts, JOB_SLOTS). */
  readonly #running = new Map<GuestWorker, Running[]>();
  readonly #sched: TenantScheduler<PoolJob>;
  readonly #maxQueued: number;
  readonly #doorbell: Doorbell<Running>;
  readonly #deadlines: DeadlineWatch;
  readonly #sampler: CpuSampler;
  readonly #resultWait: WaitKind;
  readonly #plans = new PlanBook();
  readonly #spares: Spares;
  readonly #transport: WorkerTransport;
  readonly #onWorkerExit: (tenant: string | undefined, how: string) => void;
  #nextWorkerId = 1;
  #closed = false;

  constructor(opts: GuestPoolOptions) {
    this.#log = opts.logger;
    this.#transport = opts.transport ?? THREAD_TRANSPORT;
    this.#onWorkerExit = opts.onWorkerExit ?? (() => undefined);
    this.#size = Math.max(1, opts.size ?? Math.max(2, availableParallelism()));
    const pressure = new SharedArrayBuffer(PRESSURE_INTS * 4);
    const epoch = performance.timeOrigin + performance.now();
    this.#settings = {
      pressure,
      epoch,
      maxInstances: opts.maxInstancesPerWorker ?? 32,
      maxInstanceBytes: opts.maxInstanceBytesPerWorker ?? 1024 * 1024 * 1024,
      heapMib: opts.heapMib,
    };
    this.#sampler = new CpuSampler(new Int32Array(pressure));
    this.#resultWait = new WaitKind(new Int32Array(pressure));
    this.#maxQueued = opts.maxQueuedPerTenant ?? 1000;
    this.#sched = new TenantScheduler<PoolJob>((j) => j.tenant, {
      concurrency: opts.tenantConcurrency ?? (() => undefined),
      rate: opts.tenantRate ?? (() => undefined),
      workers: () => this.#workers.length,
      idle: () => this.#workers.filter((w) => this.#idle(w)).length,
    });
    this.#doorbell = new Doorbell<Running>(
      (w) => this.#running.get(w),
      (w, run, result) => this.#result(w, run, result),
      (w) => this.#spinForLone(w),
    );
    this.#deadlines = new DeadlineWatch(
      epoch,
      () => this.#running.keys(),
      (w, node) => this.#expire(w, node),
    );
    this.#spares = new Spares(this.#log, opts.spare ?? true, {
      spawn: () => this.#spawn(),
      workers: () => this.#workers,
      replace: (w, reason) => this.#replace(w, reason),
      closed: () => this.#closed,
    });
  }

  /** Start the workers and the spare; resolves when all are ready. */
  async start(): Promise<void> {
    this.#sampler.start();
    const starting: Promise<void>[] = [];
    for (let i = 0; i < this.#size; i++) {
      const w = this.#spawn();
      this.#workers.push(w);
      starting.push(w.started);
    }
    // While the workers start: this thread's half of the job codec runs once before a turn needs it.
    warmJobCodec();
    await Promise.all([...starting, this.#spares.start()]);
  }

  /** Number a turn plan for this pool; the flow layer makes one per (environment, team, channel, flow). */
  plan(wire: TurnPlan, components: readonly CompiledComponent[], permissions: readonly Permissions[], teamChannels: ReadonlySet<string>): PlannedTurn {
    return this.#plans.plan(wire, components, permissions, teamChannels);
  }

  /** Run one turn in one worker job. Never rejects: a failure is an outcome naming its node. */
  runTurn(req: TurnRequest): Promise<TurnOutcome> {
    return new Promise<TurnOutcome>((resolve) => {
      const refused = this.#submit(new TurnPoolJob(req, resolve));
      if (refused) resolve({ ok: false, error: refused, node: req.start, steps: [] });
    });
  }

  /** Run one call under the caller's scope; resolves with the guest's (checked) output or rejects with a NodeError. */
  invoke(call: GuestCall): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const refused = this.#submit(callJob(this.#plans, call, resolve, reject));
      if (refused) reject(refused);
    });
  }

  /** Get every worker (the spare and later replacements too) ready for `component` with these WASI grants. */
  preload(component: CompiledComponent, wasi: readonly string[]): Promise<void> {
    return this.#spares.preload(component, wasi);
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

  /** Jobs waiting, per tenant (for metrics and tests). */
  queued(tenant: string): number {
    return this.#sched.queued(tenant);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#deadlines.stop();
    this.#sampler.stop();
    for (const job of this.#sched.drain()) void job.settle({ error: shuttingDown(), node: 0 });
    const all = [...this.#workers, ...this.#spares.take()];
    this.#workers.length = 0;
    await Promise.all(all.map((w) => this.#retire(w, shuttingDown())));
  }

  #submit(job: PoolJob): NodeError | undefined {
    if (this.#closed) return shuttingDown();
    if (this.#sched.queued(job.tenant) >= this.#maxQueued) {
      return new NodeError('limit-exceeded', `tenant "${job.tenant}" has ${this.#maxQueued} calls waiting already; try again later`, true);
    }
    this.#collect();
    this.#sched.push(job);
    this.#pump();
    return undefined;
  }

  /**
   * Take the results workers have posted and not yet been seen: their doorbell wake-up is a task
   * of this thread's event loop, which waits while a run of turns goes on in microtasks (on the
   * embedded bus, one turn's end starts the next turns without a task in between). Taken here, on
   * every submit, a worker that finished gets its next job at once instead of idling until then.
   */
  #collect(): void {
    for (const w of this.#running.keys()) if (this.#doorbell.pending(w)) this.#doorbell.service(w);
  }

  #idle(w: GuestWorker): boolean {
    return w.ready && w.alive && !this.#running.has(w);
  }

  /** A new worker, starting; it takes jobs once ready. */
  #spawn(): GuestWorker {
    const w: GuestWorker = this.#transport.spawn(this.#nextWorkerId++, this.#settings, this.#log, {
      ready: () => this.#pump(),
      exit: (_w, how) => {
        const tenant = this.#running.get(w)?.[0]?.job.tenant;
        this.#log.error({ event: 'worker-exit', worker: w.id, how, tenant_id: tenant }, 'guest worker exited unexpectedly');
        this.#onWorkerExit(tenant, how);
        this.#replace(w, new NodeError('worker-crashed', `${w.noun} (${how})`, true));
      },
    });
    this.#spares.prepareAll(w);
    return w;
  }

  #pump(): void {
    const started: GuestWorker[] = [];
    for (;;) {
      if (!this.#workers.some((w) => this.#idle(w))) break;
      const job = this.#sched.next();
      if (!job) {
        this.#sched.wakeForRate(() => this.#pump());
        break;
      }
      const w = this.#pick(job);
      if (this.#dispatch(w, job)) started.push(w);
    }
    // A busy worker whose tenant is the only one waiting gets that tenant's next job in its
    // second slot, so it goes on without sleeping between the two.
    for (const [w, runs] of this.#running) {
      if (runs.length >= JOB_SLOTS || !w.alive) continue;
      const job = this.#sched.nextOf(runs[0]!.job.tenant);
      if (job) this.#dispatch(w, job);
    }
    // What a lone job posted while it was waited for is taken at once, not on a later event-loop turn.
    if (started.length === 1 && this.#spinForLone(started[0]!)) this.#doorbell.service(started[0]!);
    for (const w of started) if (this.#running.has(w)) void this.#doorbell.arm(w);
  }

  /**
   * When `w` runs the only job in flight, wait here for its next post (a result or a capability
   * request) while that pays (a core idle, such jobs quick lately), instead of on the doorbell,
   * whose wake-up costs ~25 us: after a job is written, and after a bridge reply. False if it
   * is not alone (nothing was waited for).
   */
  #spinForLone(w: GuestWorker): boolean {
    if (!w.spins || this.#running.size !== 1 || !this.#running.has(w)) return false;
    const { spunMs } = this.#resultWait.spin(() => this.#doorbell.pending(w));
    this.#resultWait.spun(spunMs);
    return true;
  }

  /** The idle worker for `job`: one with its instance warm, else one with its modules loaded, else any. */
  #pick(job: PoolJob): GuestWorker {
    let loaded: GuestWorker | undefined;
    let any: GuestWorker | undefined;
    for (const w of this.#workers) {
      if (!this.#idle(w)) continue;
      if (w.warm.has(job.instanceKey)) return w;
      if (!loaded && w.loaded.has(job.components[0]!.key)) loaded = w;
      any ??= w;
    }
    return (loaded ?? any)!;
  }

  /** Write `job` into `w`'s next job slot and wake it if it sleeps; false if it did not fit (the job is failed). */
  #dispatch(w: GuestWorker, job: PoolJob): boolean {
    const callId = w.written + 1;
    for (const c of job.components) w.load(c);
    const wire = job.wire(callId, (id) => w.plans.has(id));
    const length = writeJob(w.data, jobOffset(callId), JOB_BYTES, wire);
    if (length < 0) {
      this.#sched.done(job);
      const error = new NodeError('limit-exceeded', `the call (with the session's state) is larger than ${JOB_BYTES} bytes`, false);
      void job.settle({ error, node: 0 });
      return false;
    }
    if ('planId' in wire) w.plans.add(wire.planId);
    w.written = callId;
    const runs = this.#running.get(w);
    const run = { job, callId, at: performance.now() };
    if (runs) runs.push(run);
    else this.#running.set(w, [run]);
    this.#deadlines.watch();
    w.jobWritten(callId, length);
    return true;
  }

  /** A job's result came back: note what the worker keeps warm now, free the worker, settle the job. */
  #result(w: GuestWorker, run: Running, result: JobResult): void {
    this.#resultWait.took(performance.now() - run.at, 0);
    for (const key of result.evicted) w.warm.delete(key);
    if (result.ok) for (const s of result.effects.steps) w.warm.add(run.job.node(s.node).instanceKey);
    else if (result.failure.kind !== 'node-error') w.warm.delete(run.job.node(result.node).instanceKey);
    this.#end(w, run);
    this.#settle(run.job, result);
  }

  /** The job is off the worker: account it as done and start the next ones. */
  #end(w: GuestWorker, run: Running): void {
    const runs = this.#running.get(w);
    const i = runs?.indexOf(run) ?? -1;
    if (i >= 0) runs!.splice(i, 1);
    if (runs?.length === 0) this.#running.delete(w);
    this.#sched.done(run.job);
    this.#pump();
  }

  #settle(job: PoolJob, outcome: Parameters<PoolJob['settle']>[0]): void {
    job.settle(outcome).catch((e: unknown) => this.#log.error({ event: 'job-settle-failed', err: String(e) }, 'applying a job result failed'));
  }

  /** A node call of `w` passed its deadline: terminate the worker, fail its job. */
  #expire(w: GuestWorker, node: number): void {
    // Results it finished before are taken first: the job in its first slot is the one that ran late.
    this.#doorbell.service(w);
    const run = this.#running.get(w)?.[0];
    if (!run) return;
    const { component, permissions } = run.job.node(node);
    const deadline = permissions.limits.deadlineMs;
    run.job
      .bridgeScope(node)
      .logger.warn({ event: 'deadline-exceeded', worker: w.id, deadline_ms: deadline }, 'guest call passed its deadline; terminating its worker');
    this.#replace(w, new NodeError('deadline-exceeded', `component "${component}" did not finish within ${deadline} ms`, true), true);
  }

  /**
   * Terminate a worker (deadline, crash, stuck start-up), fail its job, and put the spare in its
   * place. With `charge`, the tenant whose call ran past its deadline goes on holding the worker,
   * for its concurrency and the last-idle-worker rule, until the replacement worker is ready: a
   * tenant whose calls hang pays for the restarts they cause, not the tenants beside it.
   */
  #replace(w: GuestWorker, reason: NodeError, charge = false): void {
    const i = this.#workers.indexOf(w);
    if (i < 0 && this.#spares.isSpare(w)) return this.#spares.replaceSpare(w, reason, (x, r) => this.#retire(x, r));
    if (i >= 0) this.#workers.splice(i, 1);
    if (this.#closed) return void this.#retire(w, reason);
    const fresh = this.#spares.promote((n) => {
      this.#workers.push(n);
      this.#pump();
    });
    void this.#retire(w, reason, charge ? fresh.started : undefined);
    this.#pump();
  }

  /** Stop `w`: the job it was running fails with `reason`; one waiting in its second slot never started and is queued again. */
  async #retire(w: GuestWorker, reason: NodeError, heldUntil?: Promise<void>): Promise<void> {
    const runs = this.#running.get(w) ?? [];
    this.#running.delete(w);
    runs.forEach((run, i) => {
      if (i > 0 && !this.#closed) return this.#sched.requeue(run.job);
      if (i === 0 && heldUntil) {
        void heldUntil.then(() => {
          this.#sched.done(run.job);
          this.#pump();
        });
      } else this.#sched.done(run.job);
      // STEP_NODE names a node of this job only once it has started one.
      const node = Atomics.load(w.ctrl, STEP_NODE);
      this.#settle(run.job, { error: reason, node: i === 0 && node < run.job.components.length ? node : 0 });
    });
    await w.terminate();
    if (runs.length > 1) this.#pump();
  }
}
