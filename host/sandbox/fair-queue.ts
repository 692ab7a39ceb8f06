/**
 * Per-tenant FIFO queues served round-robin: a tenant that floods the host waits behind
 * itself, not in front of everyone else. Whether a tenant may start another call right now
 * (its concurrency cap, its rate limit) is the caller's `mayStart` decision.
 */
export class FairQueue<T> {
  readonly #queues = new Map<string, T[]>();
  /** Tenants with queued work, in service order. */
  readonly #ring: string[] = [];
  readonly #running = new Map<string, number>();

  constructor(
    private readonly tenantOf: (job: T) => string,
    private readonly mayStart: (tenant: string, running: number) => boolean,
  ) {}

  push(job: T): void {
    this.#queueOf(this.tenantOf(job), false).push(job);
  }

  /** The tenant's queue, made (and the tenant put in the ring, at its back or front) if it has none. */
  #queueOf(tenant: string, front: boolean): T[] {
    let q = this.#queues.get(tenant);
    if (!q) {
      q = [];
      this.#queues.set(tenant, q);
      if (front) this.#ring.unshift(tenant);
      else this.#ring.push(tenant);
    }
    return q;
  }

  /** The next job to run, from the first tenant in turn that may start one; it counts as running. */
  next(): T | undefined {
    for (let i = 0; i < this.#ring.length; i++) {
      const tenant = this.#ring[i]!;
      const running = this.#running.get(tenant) ?? 0;
      if (!this.mayStart(tenant, running)) continue;
      const q = this.#queues.get(tenant)!;
      const job = q.shift()!;
      this.#running.set(tenant, running + 1);
      // This tenant goes to the back of the ring; drop it if it has nothing left.
      this.#ring.splice(i, 1);
      if (q.length > 0) this.#ring.push(tenant);
      else this.#queues.delete(tenant);
      return job;
    }
    return undefined;
  }

  /**
   * The next job of `tenant`, if it is the only tenant waiting and may start one: a worker
   * already running its work may take it next without making anyone else wait.
   */
  nextOf(tenant: string): T | undefined {
    if (this.#ring.length !== 1 || this.#ring[0] !== tenant) return undefined;
    const running = this.#running.get(tenant) ?? 0;
    if (!this.mayStart(tenant, running)) return undefined;
    const q = this.#queues.get(tenant)!;
    const job = q.shift()!;
    this.#running.set(tenant, running + 1);
    if (q.length === 0) {
      this.#queues.delete(tenant);
      this.#ring.length = 0;
    }
    return job;
  }

  /** A job handed out that never started (its worker was stopped): first in its tenant's queue again. */
  requeue(job: T): void {
    this.done(job);
    this.#queueOf(this.tenantOf(job), true).unshift(job);
  }

  /** A job handed out by next() has finished. */
  done(job: T): void {
    const tenant = this.tenantOf(job);
    const n = (this.#running.get(tenant) ?? 1) - 1;
    if (n <= 0) this.#running.delete(tenant);
    else this.#running.set(tenant, n);
  }

  queued(tenant: string): number {
    return this.#queues.get(tenant)?.length ?? 0;
  }

  running(tenant: string): number {
    return this.#running.get(tenant) ?? 0;
  }

  /** Tenants with queued work. */
  waitingTenants(): readonly string[] {
    return this.#ring;
  }

  /** Remove and return every queued job. */
  drain(): T[] {
    const all = [...this.#queues.values()].flat();
    this.#queues.clear();
    this.#ring.length = 0;
    return all;
  }
}
