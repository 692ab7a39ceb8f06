/**
 * The host's worker pool, by isolation tier: tenants with `settings.isolation: thread` (the
 * default) share one pool of worker threads; each tenant with `process` gets a pool of its own
 * whose workers run inside supervised child processes (process-worker.ts), so that a V8 fatal
 * error of its guests ends only that child. Both are the same GuestPool (scheduler, deadlines,
 * budgets, capability bridge); only the transport differs.
 */
import { availableParallelism } from 'node:os';
import type { CompiledComponent } from '../components/registry.js';
import type { Permissions } from '../tenancy/grants.js';
import type { Settings } from '../tenancy/model.js';
import { GuestPool, type GuestPoolOptions } from './guest-pool.js';
import type { GuestCall } from './pool-jobs.js';
import type { PlannedTurn, TurnOutcome, TurnRequest } from './jobs.js';
import { ProcessTransport } from './process-worker.js';
import type { TurnPlan } from './protocol.js';

export type { GuestCall } from './pool-jobs.js';

/** How one tenant's guests are isolated. */
export interface TenantSandbox {
  readonly isolation: 'thread' | 'process';
  /** The V8 heap cap (MiB) of its sandbox processes' worker threads (process tier). */
  readonly heapMib: number;
  /** Workers of its own pool (process tier), besides the spare. */
  readonly workers: number;
}

/** A sandbox process's worker thread gets this many times the heap one instance may take (limits.module.heap_mib)... */
const HEAP_INSTANCES = 4;
/** ...and at least this much (MiB): the host's worker code and the jco glue live there too. */
const MIN_HEAP_MIB = 128;

/** How a tenant with these settings is isolated (the shared threads when it has none). */
export function tenantSandbox(settings: Settings | undefined): TenantSandbox | undefined {
  if (!settings) return undefined;
  return {
    isolation: settings.isolation,
    heapMib: Math.max(MIN_HEAP_MIB, HEAP_INSTANCES * settings.limits.module.heapMib),
    workers: settings.concurrency ?? 1,
  };
}

export interface WorkerPoolOptions extends Omit<GuestPoolOptions, 'transport' | 'heapMib' | 'onWorkerExit'> {
  /** How a tenant's guests are isolated; undefined (or a tenant it does not know): the shared thread pool. */
  readonly sandbox?: (tenant: string) => TenantSandbox | undefined;
  /** A worker died unexpectedly: the tenant of the call it ran (the process tier's own tenant), and its tier. Logged and counted. */
  readonly onWorkerExit?: (tenant: string | undefined, tier: 'thread' | 'process') => void;
}

/** A process-tier tenant's pool and its transport. */
interface OwnPool {
  readonly pool: GuestPool;
  readonly transport: ProcessTransport;
}

/** Runs guest jobs in the pool of the job's tenant: the shared thread pool, or the tenant's own sandbox processes. */
export class WorkerPool {
  readonly #opts: WorkerPoolOptions;
  readonly #shared: GuestPool;
  readonly #own = new Map<string, OwnPool>();
  #closed = false;

  constructor(opts: WorkerPoolOptions) {
    this.#opts = opts;
    this.#shared = new GuestPool({ ...opts, onWorkerExit: (t) => opts.onWorkerExit?.(t, 'thread') });
  }

  /** Start the shared workers; a process-tier tenant's start when it is first used. */
  start(): Promise<void> {
    return this.#shared.start();
  }

  /** Number a turn plan in its tenant's pool. */
  plan(wire: TurnPlan, components: readonly CompiledComponent[], permissions: readonly Permissions[], teamChannels: ReadonlySet<string>): PlannedTurn {
    return this.#for(wire.tenantId).plan(wire, components, permissions, teamChannels);
  }

  /** Run one turn in one worker job. Never rejects: a failure is an outcome naming its node. */
  runTurn(req: TurnRequest): Promise<TurnOutcome> {
    return this.#for(req.plan.wire.tenantId).runTurn(req);
  }

  /** Run one call under the caller's scope; resolves with the guest's (checked) output or rejects with a NodeError. */
  invoke(call: GuestCall): Promise<unknown> {
    return this.#for(call.scope.ctx.tenantId).invoke(call);
  }

  /** Get the workers `tenant`'s calls run on (every shared worker, without a tenant) ready for `component` with these WASI grants. */
  preload(component: CompiledComponent, wasi: readonly string[], tenant?: string): Promise<void> {
    return (tenant === undefined ? this.#shared : this.#for(tenant)).preload(component, wasi);
  }

  /** Instances kept warm, per tenant, across every pool. */
  liveInstances(): Map<string, number> {
    const counts = this.#shared.liveInstances();
    for (const { pool } of this.#own.values()) for (const [t, n] of pool.liveInstances()) counts.set(t, (counts.get(t) ?? 0) + n);
    return counts;
  }

  /** Jobs waiting, per tenant (for metrics and tests). */
  queued(tenant: string): number {
    return this.#for(tenant).queued(tenant);
  }

  /** The process ids of `tenant`'s sandbox processes (empty in the thread tier). */
  sandboxPids(tenant: string): number[] {
    return this.#own.get(tenant)?.transport.pids() ?? [];
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#shared.close(), ...[...this.#own.values()].map((o) => o.pool.close())]);
  }

  #for(tenant: string): GuestPool {
    const own = this.#own.get(tenant);
    if (own) return own.pool;
    const sandbox = this.#closed ? undefined : this.#opts.sandbox?.(tenant);
    if (sandbox?.isolation !== 'process') return this.#shared;
    const transport = new ProcessTransport(tenant);
    const pool = new GuestPool({
      ...this.#opts,
      size: Math.max(1, Math.min(sandbox.workers, availableParallelism())),
      transport,
      heapMib: sandbox.heapMib,
      onWorkerExit: () => this.#opts.onWorkerExit?.(tenant, 'process'),
    });
    this.#own.set(tenant, { pool, transport });
    // Calls queue until its first process is ready; one that cannot start fails them as a crash.
    void pool.start();
    return pool;
  }
}
