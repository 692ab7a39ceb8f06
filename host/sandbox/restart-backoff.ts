/**
 * How soon a crashed sandbox process may be started again. Each crash within CALM_MS of the
 * previous one doubles the wait (from FIRST_MS up to MAX_MS); a process tier whose children keep
 * dying therefore restarts a bounded number of times per minute, never in a busy loop, and
 * says so once per crash while it waits.
 */
import { performance } from 'node:perf_hooks';

export const FIRST_MS = 100;
export const MAX_MS = 30_000;
/** A crash this long after the previous one starts the count again. */
export const CALM_MS = 60_000;
/** This many crashes in a row (each within CALM_MS of the last) are reported as a crash loop. */
export const LOOP_CRASHES = 3;

export class RestartBackoff {
  #crashes = 0;
  #last = -Infinity;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Count a crash; returns how many came in a row, counting this one. */
  crashed(): number {
    const t = this.now();
    this.#crashes = t - this.#last > CALM_MS ? 1 : this.#crashes + 1;
    this.#last = t;
    return this.#crashes;
  }

  /** How long the next start waits (0 until a crash). */
  delayMs(): number {
    if (this.#crashes === 0 || this.now() - this.#last > CALM_MS) return 0;
    return Math.min(MAX_MS, FIRST_MS * 2 ** (this.#crashes - 1));
  }

  /** Whether the crashes in a row amount to a crash loop. */
  looping(): boolean {
    return this.#crashes >= LOOP_CRASHES && this.now() - this.#last <= CALM_MS;
  }
}
