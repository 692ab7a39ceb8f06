import type { StoreHealth, StoreOp } from './store-health.js';

export interface BackgroundTaskOptions {
  readonly op: StoreOp;
  readonly health: StoreHealth;
  /** First retry after a failure (ms, default 500); each further one waits twice as long... */
  readonly retryMs?: number;
  /** ...up to this (ms, default 30000). */
  readonly maxRetryMs?: number;
}

/**
 * Work a store does on its own (checkpoints, sweeps): one run at a time, never a rejection
 * that could reach the process. A failure is reported to the store's health and the work is
 * retried with exponential backoff (with jitter) until it succeeds; a success resets the backoff.
 * Timers are unref'd: pending background work never keeps the process alive.
 */
export class BackgroundTask {
  readonly #run: () => Promise<void>;
  readonly #opts: BackgroundTaskOptions;
  #timer: NodeJS.Timeout | undefined;
  #dueAt = Infinity;
  #running: Promise<void> | undefined;
  #again = false;
  #backoff = 0;
  #stopped = false;

  constructor(run: () => Promise<void>, opts: BackgroundTaskOptions) {
    this.#run = run;
    this.#opts = opts;
  }

  /** Run within `delayMs` (sooner if already due sooner); while running, run once more after. */
  schedule(delayMs: number): void {
    if (this.#stopped) return;
    // While failing, the retry already armed decides when: callers must not hammer a broken disk.
    if (this.#backoff > 0 && (this.#timer || this.#running)) return;
    if (this.#running) {
      if (delayMs === 0) this.#again = true;
      else if (!this.#timer) this.#arm(delayMs);
      return;
    }
    this.#arm(delayMs);
  }

  /** Run now (or wait for the run under way, then run again) and resolve when done; never rejects. */
  async runNow(): Promise<void> {
    while (this.#running) await this.#running;
    this.#disarm();
    await this.#start();
  }

  /** The run under way, if any (resolves, never rejects). */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** True while the last run failed and a retry is pending. */
  get failing(): boolean {
    return this.#backoff > 0;
  }

  /** No more runs; resolves once the one under way (if any) ends. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#disarm();
    while (this.#running) await this.#running;
  }

  #arm(delayMs: number): void {
    const due = Date.now() + delayMs;
    if (this.#timer && due >= this.#dueAt) return;
    this.#disarm();
    this.#dueAt = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#dueAt = Infinity;
      void this.#start();
    }, delayMs);
    this.#timer.unref();
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dueAt = Infinity;
  }

  #start(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = this.#once().finally(() => {
      this.#running = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        this.#arm(0);
      }
    });
    this.#running = run;
    return run;
  }

  async #once(): Promise<void> {
    const { op, health } = this.#opts;
    try {
      await this.#run();
      this.#backoff = 0;
      health.succeeded(op);
    } catch (e) {
      health.failed(op, e);
      const base = this.#opts.retryMs ?? 500;
      this.#backoff = this.#backoff === 0 ? base : Math.min(this.#backoff * 2, this.#opts.maxRetryMs ?? 30_000);
      // Jitter, so that many stores failing together do not retry in step.
      if (!this.#stopped) this.#arm(Math.round(this.#backoff * (0.75 + Math.random() * 0.5)));
    }
  }
}
