import type { Logger } from '../observability/logger.js';
import type { SessionKey } from './keys.js';
import { PROBLEM_TEXT, problemOf, type StorageProblem } from './storage-problem.js';

/** The store's operations whose failures are tracked: a turn's journal write, and the background work. */
export type StoreOp = 'append' | 'checkpoint' | 'sweep' | 'recover';

/** Where a store reports what it counts (HostMetrics implements it). */
export interface StoreMetricsSink {
  storeFailure(store: string, op: StoreOp, problem: StorageProblem): void;
  sessionQuarantined(key: SessionKey, reason: string): void;
}

/** A failing operation, as the admin API may show it. */
export interface FailingOp {
  readonly op: StoreOp;
  readonly problem: StorageProblem;
  /** Epoch ms of the first failure in this run of failures. */
  readonly since: number;
  readonly failures: number;
  readonly error: string;
}

/** A store's health: ok, or the operations failing now. `problem` is a reason code safe to show anyone (no names, no paths). */
export interface StoreHealthReport {
  readonly ok: boolean;
  readonly problem: StorageProblem | null;
  readonly failing: readonly FailingOp[];
  /** Failures since the store opened, recovered or not. */
  readonly failuresTotal: number;
}

/** While an operation keeps failing, one reminder line this often (not one per failure: a full disk would flood the log). */
const REMIND_MS = 30_000;

interface Failing {
  problem: StorageProblem;
  since: number;
  failures: number;
  error: string;
  loggedAt: number;
}

/**
 * Tracks which of a store's operations fail, logs each start of a failure, a reminder while it
 * lasts, and its recovery, and counts every failure. The store is healthy when none fails.
 */
export class StoreHealth {
  readonly #failing = new Map<StoreOp, Failing>();
  #total = 0;

  constructor(
    private readonly opts: {
      readonly store: string;
      readonly logger?: Logger | undefined;
      readonly metrics?: StoreMetricsSink | undefined;
      readonly now?: () => number;
    },
  ) {}

  /** Record a failure of `op`; returns its problem code. */
  failed(op: StoreOp, e: unknown): StorageProblem {
    const problem = problemOf(e);
    const now = this.#now();
    const error = e instanceof Error ? e.message : String(e);
    this.#total++;
    this.opts.metrics?.storeFailure(this.opts.store, op, problem);
    const f = this.#failing.get(op);
    if (!f) {
      this.#failing.set(op, { problem, since: now, failures: 1, error, loggedAt: now });
      this.opts.logger?.error(
        { event: 'store-failing', store: this.opts.store, op, problem, err: error },
        `${this.opts.store}: ${op} failed (${PROBLEM_TEXT[problem]}); retrying until it works`,
      );
      return problem;
    }
    f.failures++;
    f.problem = problem;
    f.error = error;
    if (now - f.loggedAt >= REMIND_MS) {
      f.loggedAt = now;
      this.opts.logger?.error(
        { event: 'store-failing', store: this.opts.store, op, problem, failures: f.failures, since: new Date(f.since).toISOString(), err: error },
        `${this.opts.store}: ${op} still failing (${PROBLEM_TEXT[problem]}), ${f.failures} failures so far`,
      );
    }
    return problem;
  }

  /** Record a success of `op`: if it was failing, it has recovered. */
  succeeded(op: StoreOp): void {
    const f = this.#failing.get(op);
    if (!f) return;
    this.#failing.delete(op);
    this.opts.logger?.info(
      { event: 'store-recovered', store: this.opts.store, op, failures: f.failures, after_ms: this.#now() - f.since },
      `${this.opts.store}: ${op} works again`,
    );
  }

  /** True while `op` is failing. */
  isFailing(op: StoreOp): boolean {
    return this.#failing.has(op);
  }

  report(): StoreHealthReport {
    const failing = [...this.#failing].map(([op, f]) => ({ op, problem: f.problem, since: f.since, failures: f.failures, error: f.error }));
    failing.sort((a, b) => a.since - b.since);
    return { ok: failing.length === 0, problem: failing[0]?.problem ?? null, failing, failuresTotal: this.#total };
  }

  #now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
