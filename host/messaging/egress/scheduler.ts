import { TokenBucket } from '../../sandbox/rate-limit.js';

/** One unit of work: which tenant it belongs to, its lane (work of one lane runs in order) and its channel. */
export interface ScheduledJob {
  readonly tenant: string;
  /** Jobs of one lane (one conversation) run one at a time, in order. */
  readonly lane: string;
  /** The channel whose rate limit and pauses apply. */
  readonly channel: string;
}

/** What running a job came to: over, or to be tried again later (the lane waits; its concurrency slot is freed). */
export type JobStep = { readonly done: true } | { readonly done: false; readonly retryInMs: number; readonly pauseChannelMs?: number | undefined };

/** The limits of a tenant (its bucket, concurrency and queue) and of a channel (its bucket). */
export interface SchedulerLimits<J extends ScheduledJob> {
  tenant(tenant: string): { ratePerSec: number; burst: number; concurrency: number; maxQueued: number };
  channel(job: J): { ratePerSec: number; burst: number };
}

interface TenantQueue {
  readonly lanes: Map<string, unknown[]>;
  /** Lanes with a job that may run now, oldest first. */
  readonly ready: string[];
  running: number;
  queued: number;
  readonly bucket: TokenBucket;
  blockedUntil: number;
}

/**
 * Runs jobs so that one tenant cannot hold up another: every tenant has its own queue, tenants
 * are served round-robin within a global concurrency, each tenant runs at most its own
 * concurrency at once, and a job waits for a token of its tenant's and its channel's buckets.
 * A job that must be retried frees its slot and its lane sleeps on a timer; so do rate limits
 * and a channel the provider paused (Retry-After). Nothing spins.
 */
export class FairScheduler<J extends ScheduledJob> {
  readonly #tenants = new Map<string, TenantQueue>();
  readonly #order: string[] = [];
  #next = 0;
  readonly #channels = new Map<string, { bucket: TokenBucket; pausedUntil: number }>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #runningJobs = new Set<Promise<void>>();
  #running = 0;
  #closed = false;
  #idleWaiters: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly limits: SchedulerLimits<J>,
    private readonly run: (job: J) => Promise<JobStep>,
    private readonly onError: (job: J, err: unknown) => void,
  ) {}

  /** Queue a job; false when its tenant's queue is full (the caller decides what that means). */
  enqueue(job: J): boolean {
    if (this.#closed) return false;
    const t = this.#tenant(job.tenant);
    if (t.queued >= this.limits.tenant(job.tenant).maxQueued) return false;
    t.queued++;
    const lane = t.lanes.get(job.lane);
    if (lane) lane.push(job);
    else {
      t.lanes.set(job.lane, [job]);
      t.ready.push(job.lane);
    }
    this.#pump();
    return true;
  }

  /** Jobs waiting or running, per tenant. */
  queued(): Map<string, number> {
    return new Map([...this.#tenants].filter(([, t]) => t.queued > 0).map(([id, t]) => [id, t.queued]));
  }

  /** Resolves when no job is queued or running. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /** Stop starting jobs and forget the queued ones (their sources keep them); wait for the running ones. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled([...this.#runningJobs]);
  }

  #isIdle(): boolean {
    return this.#running === 0 && [...this.#tenants.values()].every((t) => t.queued === 0);
  }

  #tenant(id: string): TenantQueue {
    let t = this.#tenants.get(id);
    if (!t) {
      const l = this.limits.tenant(id);
      t = { lanes: new Map(), ready: [], running: 0, queued: 0, bucket: new TokenBucket(l.ratePerSec, l.burst), blockedUntil: 0 };
      this.#tenants.set(id, t);
      this.#order.push(id);
    }
    return t;
  }

  #channel(job: J) {
    let c = this.#channels.get(`${job.tenant}\n${job.channel}`);
    if (!c) {
      const l = this.limits.channel(job);
      c = { bucket: new TokenBucket(l.ratePerSec, l.burst), pausedUntil: 0 };
      this.#channels.set(`${job.tenant}\n${job.channel}`, c);
    }
    return c;
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        if (!this.#closed) fn();
      },
      Math.max(1, Math.ceil(ms)),
    );
    this.#timers.add(timer);
  }

  #pump(): void {
    while (!this.#closed && this.#running < this.concurrency) {
      const picked = this.#pick();
      if (!picked) break;
      this.#start(picked.queue, picked.job);
    }
    if (this.#isIdle()) this.#idleWaiters.splice(0).forEach((r) => r());
  }

  /** The next job to start: tenants in turn, skipping those at their concurrency or out of tokens; lanes whose channel must wait sleep. */
  #pick(): { queue: TenantQueue; job: J } | null {
    const now = performance.now();
    for (let i = 0; i < this.#order.length; i++) {
      const id = this.#order[(this.#next + i) % this.#order.length]!;
      const t = this.#tenants.get(id)!;
      if (t.ready.length === 0 || t.running >= this.limits.tenant(id).concurrency || t.blockedUntil > now) continue;
      const tenantWait = t.bucket.waitMs(now);
      if (tenantWait > 0) {
        t.blockedUntil = now + tenantWait;
        this.#later(tenantWait, () => this.#pump());
        continue;
      }
      // The first ready lane whose channel may send now; the others wait for their channel.
      for (let k = 0; k < t.ready.length; k++) {
        const lane = t.ready[k]!;
        const job = t.lanes.get(lane)![0] as J;
        const ch = this.#channel(job);
        const wait = Math.max(ch.bucket.waitMs(now), ch.pausedUntil - now);
        if (wait > 0) {
          t.ready.splice(k--, 1);
          this.#later(wait, () => {
            t.ready.push(lane);
            this.#pump();
          });
          continue;
        }
        t.ready.splice(k, 1);
        t.bucket.take(now);
        ch.bucket.take(now);
        this.#next = (this.#next + i + 1) % this.#order.length;
        return { queue: t, job };
      }
    }
    return null;
  }

  #start(t: TenantQueue, job: J): void {
    this.#running++;
    t.running++;
    const p = this.run(job)
      .catch((err: unknown): JobStep => {
        this.onError(job, err);
        return { done: false, retryInMs: 5000 };
      })
      .then((step) => {
        this.#running--;
        t.running--;
        if (step.done) {
          const lane = t.lanes.get(job.lane)!;
          lane.shift();
          t.queued--;
          if (lane.length > 0) t.ready.push(job.lane);
          else t.lanes.delete(job.lane);
        } else {
          if (step.pauseChannelMs) this.#channel(job).pausedUntil = performance.now() + step.pauseChannelMs;
          this.#later(step.retryInMs, () => {
            t.ready.push(job.lane);
            this.#pump();
          });
        }
        this.#pump();
      })
      .finally(() => this.#runningJobs.delete(p));
    this.#runningJobs.add(p);
  }
}
