/**
 * Adaptive waiting, for both sides of a crossing. A hand-off caught by spinning costs ~0.5 us;
 * one that sleeps on a futex costs ~25 us of latency, but no CPU. Spinning pays only when the
 * answer is imminent and the core it burns has nothing else to do, so a thread spins only when
 *  - the main thread's CPU sampler has seen a core idle (counting time spent spinning as idle:
 *    otherwise our own spinning would hide the idle core it uses), and
 *  - this kind of wait has recently been short (a moving average of how long it took).
 * Otherwise it sleeps at once (Atomics.wait in a worker, Atomics.waitAsync on the main thread).
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { SPIN_OK, SPUN_US } from './protocol.js';

/** Longest spin: past this a futex wake is cheap by comparison. */
export const MAX_SPIN_MS = 0.25;
/** How often the main thread samples the machine's idle time. */
const SAMPLE_MS = 100;
/** Idle cores (or cores only our spinning uses) needed to allow spinning. */
const IDLE_CORES_TO_SPIN = 0.5;

/** One kind of wait (a bridge reply, the next job, a job's result) and how long it has taken lately. */
export class WaitKind {
  #avg = MAX_SPIN_MS;

  constructor(private readonly pressure: Int32Array) {}

  /** How long to spin before sleeping, in ms: 0 when no core is idle or this wait has been long lately. */
  spinMs(): number {
    if (Atomics.load(this.pressure, SPIN_OK) !== 1 || this.#avg > MAX_SPIN_MS) return 0;
    return Math.min(MAX_SPIN_MS, 2 * this.#avg);
  }

  /** Record how long a wait of this kind took and how much of it was spent spinning. */
  took(ms: number, spunMs: number): void {
    // Waits long past any spin count as "long" without dragging the average for seconds.
    this.#avg = 0.8 * this.#avg + 0.2 * Math.min(ms, 4 * MAX_SPIN_MS);
    if (spunMs > 0) Atomics.add(this.pressure, SPUN_US, Math.round(spunMs * 1000));
  }

  /** Account time spent spinning outside took() (the CPU sampler counts it as idle). */
  spun(spunMs: number): void {
    if (spunMs > 0) Atomics.add(this.pressure, SPUN_US, Math.round(spunMs * 1000));
  }

  /**
   * Spin on `ready` for at most spinMs(); returns true if it came true while spinning. The caller
   * then sleeps if it did not, and reports the whole wait with took().
   */
  spin(ready: () => boolean): { ready: boolean; spunMs: number } {
    const budget = this.spinMs();
    if (budget === 0) return { ready: ready(), spunMs: 0 };
    const t0 = performance.now();
    const until = t0 + budget;
    for (;;) {
      if (ready()) return { ready: true, spunMs: performance.now() - t0 };
      const now = performance.now();
      if (now >= until) return { ready: false, spunMs: now - t0 };
    }
  }
}

/**
 * The main thread's view of the machine: every SAMPLE_MS it reads the cores' idle time and sets
 * SPIN_OK in the pool's shared `pressure` array. Sampling stops while the pool is idle.
 */
export class CpuSampler {
  #timer: NodeJS.Timeout | undefined;
  #idleMs = 0;
  #at = 0;

  constructor(private readonly pressure: Int32Array) {}

  /** Sample while the pool has work; idempotent. */
  start(): void {
    if (this.#timer) return;
    this.#idleMs = idleMsNow();
    this.#at = performance.now();
    Atomics.exchange(this.pressure, SPUN_US, 0);
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    Atomics.store(this.pressure, SPIN_OK, 0);
  }

  #sample(): void {
    const idle = idleMsNow();
    const now = performance.now();
    const elapsed = now - this.#at;
    if (elapsed <= 0) return;
    const spun = Atomics.exchange(this.pressure, SPUN_US, 0) / 1000;
    const idleCores = (idle - this.#idleMs + spun) / elapsed;
    this.#idleMs = idle;
    this.#at = now;
    Atomics.store(this.pressure, SPIN_OK, idleCores >= IDLE_CORES_TO_SPIN ? 1 : 0);
  }
}

/** Milliseconds every core has been idle since boot, summed. */
function idleMsNow(): number {
  let idle = 0;
  for (const c of cpus()) idle += c.times.idle;
  return idle;
}
