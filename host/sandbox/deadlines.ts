/**
 * The deadline watch: one timer for every running node call's deadline, checked every
 * DEADLINE_TICK_MS while jobs run (cheaper than a timer per call, and it keeps the event loop
 * alive while the pool waits on shared memory, which alone would not). A worker publishes the
 * deadline of the node it runs (STEP_DEADLINE, ms past the pool's epoch); past it, the watch
 * hands the worker to `expire`, which terminates it.
 */
import { performance } from 'node:perf_hooks';
import type { GuestWorker } from './guest-worker.js';
import { STEP_DEADLINE, STEP_NODE } from './protocol.js';

/** How often deadlines are checked: a deadline is kept to within this. */
export const DEADLINE_TICK_MS = 5;

export class DeadlineWatch {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    /** performance.timeOrigin + performance.now() when the pool started: the zero of STEP_DEADLINE. */
    private readonly epoch: number,
    /** The workers running a job now. */
    private readonly busy: () => Iterable<GuestWorker>,
    private readonly expire: (w: GuestWorker, node: number) => void,
  ) {}

  /** Make sure the watch runs (a job started). It stops by itself when nothing runs. */
  watch(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), DEADLINE_TICK_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Milliseconds past the epoch, as the workers count them. */
  now(): number {
    return performance.timeOrigin + performance.now() - this.epoch;
  }

  #tick(): void {
    const now = this.now();
    let any = false;
    for (const w of [...this.busy()]) {
      any = true;
      const deadline = Atomics.load(w.ctrl, STEP_DEADLINE);
      if (deadline !== 0 && now > deadline) this.expire(w, Atomics.load(w.ctrl, STEP_NODE));
    }
    if (!any) this.stop();
  }
}
