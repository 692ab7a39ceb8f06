/**
 * Which tenant's job runs next. Jobs queue per tenant and are served round-robin (FairQueue);
 * a tenant may start one while it is under its concurrency cap (its settings, else every
 * worker) and its rate limit, and it may take the last idle worker only when no other tenant
 * is waiting or has started work in the last RECENT_MS: a busy tenant alone uses the whole
 * pool, and a tenant whose calls all hang cannot take every worker from a tenant that is
 * using the host. What frees a worker a hung call holds is its deadline (the pool terminates
 * the worker); this rule keeps one free for everyone else meanwhile.
 */
import { performance } from 'node:perf_hooks';
import { FairQueue } from './fair-queue.js';
import { TokenBucket } from './rate-limit.js';

/** How long a tenant that started work counts as active for the last-idle-worker rule. */
export const RECENT_MS = 1000;

export interface SchedulerOptions {
  /** A tenant's concurrency cap; undefined: none (every worker). */
  readonly concurrency: (tenant: string) => number | undefined;
  /** Sustained jobs per second a tenant may start (burst: twice that); undefined: unlimited. */
  readonly rate: (tenant: string) => number | undefined;
  /** Workers in the pool, and how many are idle now. */
  readonly workers: () => number;
  readonly idle: () => number;
}

export class TenantScheduler<J> {
  readonly #queue: FairQueue<J>;
  readonly #buckets = new Map<string, TokenBucket>();
  /** The two tenants that started work most recently, with when: enough to tell whether anyone else did. */
  #recent: Array<[string, number]> = [];
  #rateTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tenantOf: (job: J) => string,
    private readonly opts: SchedulerOptions,
  ) {
    this.#queue = new FairQueue<J>(tenantOf, (tenant, running) => this.#mayStart(tenant, running));
  }

  push(job: J): void {
    this.#queue.push(job);
  }

  /** The next job that may start now (it counts as running until done()), or undefined. */
  next(): J | undefined {
    return this.#started(this.#queue.next());
  }

  /** The next job of `tenant` if no other tenant waits (see FairQueue.nextOf). */
  nextOf(tenant: string): J | undefined {
    return this.#started(this.#queue.nextOf(tenant));
  }

  /** A job that never started goes back to the front of its tenant's queue. */
  requeue(job: J): void {
    this.#queue.requeue(job);
  }

  #started(job: J | undefined): J | undefined {
    if (job === undefined) return undefined;
    const tenant = this.tenantOf(job);
    this.#bucket(tenant)?.take();
    const now = performance.now();
    if (this.#recent[0]?.[0] === tenant) this.#recent[0][1] = now;
    else this.#recent = [[tenant, now], ...this.#recent.slice(0, 1)];
    return job;
  }

  done(job: J): void {
    this.#queue.done(job);
  }

  queued(tenant: string): number {
    return this.#queue.queued(tenant);
  }

  drain(): J[] {
    clearTimeout(this.#rateTimer);
    this.#rateTimer = undefined;
    return this.#queue.drain();
  }

  /** When queued tenants are held back only by their rate, call `pump` once the first gets a token. */
  wakeForRate(pump: () => void): void {
    if (this.#rateTimer) return;
    let wait = Infinity;
    for (const t of this.#queue.waitingTenants()) {
      const ms = this.#bucket(t)?.waitMs() ?? 0;
      if (ms > 0 && ms < wait) wait = ms;
    }
    if (wait === Infinity) return;
    this.#rateTimer = setTimeout(() => {
      this.#rateTimer = undefined;
      pump();
    }, wait);
  }

  #mayStart(tenant: string, running: number): boolean {
    if (running >= (this.opts.concurrency(tenant) ?? Infinity)) return false;
    if (!(this.#bucket(tenant)?.available() ?? true)) return false;
    if (running > 0 && this.opts.workers() > 1 && this.opts.idle() <= 1 && this.#othersActive(tenant)) return false;
    return true;
  }

  /** Another tenant is waiting, or started work within RECENT_MS. */
  #othersActive(tenant: string): boolean {
    const waiting = this.#queue.waitingTenants();
    if (waiting.length > 1 || (waiting.length === 1 && waiting[0] !== tenant)) return true;
    const now = performance.now();
    return this.#recent.some(([t, at]) => t !== tenant && now - at < RECENT_MS);
  }

  /** The tenant's rate-limit bucket, if it has a rate. */
  #bucket(tenant: string): TokenBucket | undefined {
    const rate = this.opts.rate(tenant);
    if (rate === undefined) return undefined;
    let b = this.#buckets.get(tenant);
    if (!b || b.ratePerSec !== rate) {
      b = new TokenBucket(rate, Math.max(1, 2 * rate));
      this.#buckets.set(tenant, b);
    }
    return b;
  }
}
