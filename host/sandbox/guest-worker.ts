/**
 * One guest worker thread as the main thread sees it: its shared memory, what it has loaded
 * and keeps warm, the job it runs, and its life (spawned, ready, retired). The pool decides
 * what it runs; this file only knows how to talk to it.
 */
import { Worker } from 'node:worker_threads';
import type { CompiledComponent } from '../components/registry.js';
import type { Logger } from '../observability/logger.js';
import { CTRL_INTS, DATA_BYTES, DOORBELL, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** What a worker is given at spawn besides its own buffers. */
export interface WorkerSettings {
  readonly pressure: SharedArrayBuffer;
  readonly epoch: number;
  readonly maxInstances: number;
  readonly maxInstanceBytes: number;
}

/** The (component, WASI grants) key of a spare instance. */
export const preloadKey = (moduleKey: string, wasi: readonly string[]): string => `${moduleKey}|${[...wasi].sort().join(',')}`;

export class GuestWorker {
  readonly worker: Worker;
  readonly ctrl: Int32Array;
  readonly data: Buffer;
  /** Compiled components sent to it. */
  readonly loaded = new Set<string>();
  /** Instance keys it keeps warm. */
  readonly warm = new Set<string>();
  /** Turn plans it has received. */
  readonly plans = new Set<number>();
  /** 'prepare' requests not yet answered, by spare key. */
  readonly preparing = new Map<string, () => void>();
  ready = false;
  alive = true;
  /** The doorbell waiter is pending. */
  armed = false;
  seenReq = 0;
  seenDone = 0;
  /** Jobs written to it so far (job n goes to slot (n - 1) % JOB_SLOTS). */
  written = 0;
  /** A capability request is being answered (asynchronously). */
  answering = false;
  /** Settles when the worker is ready for jobs, or has died trying. */
  readonly started: Promise<void>;

  constructor(
    readonly id: number,
    settings: WorkerSettings,
    private readonly log: Logger,
    on: { ready(w: GuestWorker): void; exit(w: GuestWorker, code: number): void },
  ) {
    let started!: () => void;
    this.started = new Promise<void>((r) => (started = r));
    const ctrlBuf = new SharedArrayBuffer(CTRL_INTS * 4);
    const dataBuf = new SharedArrayBuffer(DATA_BYTES);
    const init: WorkerInit = { ctrl: ctrlBuf, data: dataBuf, ...settings };
    this.ctrl = new Int32Array(ctrlBuf);
    this.data = Buffer.from(dataBuf);
    this.worker = new Worker(WORKER_URL, { workerData: init, resourceLimits: { maxOldGenerationSizeMb: 512 }, stderr: false });
    this.worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        this.ready = true;
        started();
        on.ready(this);
      } else if (msg.type === 'prepared') {
        const key = preloadKey(msg.moduleKey, msg.wasi);
        this.preparing.get(key)?.();
        this.preparing.delete(key);
      }
    });
    this.worker.on('error', (err) => this.log.error({ event: 'worker-error', worker: id, err: err.message }, 'guest worker failed'));
    this.worker.on('exit', (code) => {
      started();
      for (const done of this.preparing.values()) done();
      this.preparing.clear();
      const wasAlive = this.alive;
      this.alive = false;
      if (wasAlive) on.exit(this, code);
    });
  }

  post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  /** Send `c`'s compiled modules unless it has them. */
  load(c: CompiledComponent): void {
    if (this.loaded.has(c.key)) return;
    this.post({ type: 'load', moduleKey: c.key, glueUrl: c.component.glueUrl, world: c.component.world, memoryBytes: c.memoryBytes, heapBytes: c.heapBytes, modules: [...c.modules] });
    this.loaded.add(c.key);
  }

  /** Stop it for good; its doorbell waiter is woken so it sees the worker is gone. */
  async terminate(): Promise<void> {
    this.alive = false;
    Atomics.add(this.ctrl, DOORBELL, 1);
    Atomics.notify(this.ctrl, DOORBELL);
    await this.worker.terminate();
  }
}
