/**
 * Warm spares: one spare worker kept ready to replace a terminated one at once, and in every
 * worker a fresh instance of each preloaded (component, WASI grants), so that a tenant's first
 * call skips instantiation. Start-up code is guest code too: a component whose spare does not
 * start within PREPARE_DEADLINE_MS is never prepared again, and the worker stuck in it is replaced.
 */
import type { CompiledComponent } from '../components/registry.js';
import type { Logger } from '../observability/logger.js';
import { NodeError } from './errors.js';
import { preloadKey, type GuestWorker } from './guest-worker.js';

/** At most this many (component, WASI grants) pairs get a spare instance in every worker: spares cost memory (a JS guest's is ~10 MiB). */
const MAX_PRELOADS = 8;
/** How long a worker may take to make a spare instance before it is replaced. */
const PREPARE_DEADLINE_MS = 5000;

interface Preload {
  readonly component: CompiledComponent;
  readonly wasi: string[];
}

/** What the spares need of the pool. */
export interface SparePool {
  /** A new worker, starting (it takes jobs once ready). */
  spawn(): GuestWorker;
  workers(): readonly GuestWorker[];
  replace(w: GuestWorker, reason: NodeError): void;
  closed(): boolean;
}

export class Spares {
  #spare: GuestWorker | undefined;
  readonly #preloads = new Map<string, Preload>();

  constructor(
    private readonly log: Logger,
    private readonly keep: boolean,
    private readonly pool: SparePool,
  ) {}

  /** Start the spare worker (if one is kept). */
  async start(): Promise<void> {
    if (this.keep) await (this.#spare = this.pool.spawn()).started;
  }

  isSpare(w: GuestWorker): boolean {
    return w === this.#spare;
  }

  /** Remove and return the spare (at close). */
  take(): GuestWorker[] {
    const s = this.#spare;
    this.#spare = undefined;
    return s ? [s] : [];
  }

  /**
   * A worker was terminated: `place` the spare in its stead at once (if it is still starting,
   * it takes jobs as soon as it is ready), and start a new spare; without a spare, a new worker.
   * Returns the worker just spawned: the pool is whole again once it is ready.
   */
  promote(place: (w: GuestWorker) => void): GuestWorker {
    const spare = this.#spare;
    const fresh = this.pool.spawn();
    if (spare) {
      place(spare);
      this.#spare = fresh;
    } else {
      place(fresh);
      if (this.keep) this.#spare = this.pool.spawn();
    }
    return fresh;
  }

  /** Terminate the spare and start another. */
  replaceSpare(w: GuestWorker, reason: NodeError, retire: (w: GuestWorker, reason: NodeError) => Promise<void>): void {
    this.#spare = undefined;
    void retire(w, reason);
    if (!this.pool.closed()) this.#spare = this.pool.spawn();
  }

  /** Get every worker (the spare and later replacements too) ready for `component` with these WASI grants. */
  async preload(component: CompiledComponent, wasi: readonly string[]): Promise<void> {
    const key = preloadKey(component.key, wasi);
    if (this.#preloads.has(key) || this.#preloads.size >= MAX_PRELOADS || this.pool.closed()) return;
    const p = { component, wasi: [...wasi] };
    this.#preloads.set(key, p);
    const all = this.#spare ? [...this.pool.workers(), this.#spare] : [...this.pool.workers()];
    await Promise.all(all.map((w) => this.#prepare(w, p)));
  }

  /** A new worker: make it every spare instance asked for so far. */
  prepareAll(w: GuestWorker): void {
    for (const p of this.#preloads.values()) void this.#prepare(w, p);
  }

  /** Ask `w` for a spare instance of `p`; resolves when it has one (or gave up, or died). */
  #prepare(w: GuestWorker, p: Preload): Promise<void> {
    w.load(p.component);
    const key = preloadKey(p.component.key, p.wasi);
    const done = new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      // The deadline runs from when the worker can start on it: a sandbox process may wait out a crash backoff first.
      void w.started.then(() => {
        if (w.preparing.has(key)) timer = setTimeout(expired, PREPARE_DEADLINE_MS).unref();
      });
      const expired = () => {
        if (!w.preparing.has(key)) return;
        w.preparing.delete(key);
        resolve();
        this.#preloads.delete(key);
        this.log.warn(
          { event: 'prepare-timeout', worker: w.id, digest: p.component.component.digest, ms: PREPARE_DEADLINE_MS },
          'a component did not start within the preparation deadline; its instances are made on demand only',
        );
        this.pool.replace(w, new NodeError('worker-crashed', 'the worker running this call was stopped: it was stuck starting another component', true));
      };
      w.preparing.set(key, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    w.post({ type: 'prepare', moduleKey: p.component.key, wasi: p.wasi });
    return done;
  }
}
