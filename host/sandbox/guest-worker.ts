/**
 * One guest worker as the main thread sees it: its shared memory, what it has loaded and keeps
 * warm, the job it runs, and its life (spawned, ready, retired). The pool decides what it runs;
 * this file only knows how to talk to it. The transport is pluggable: a worker thread of this
 * process (ThreadWorker, here) or a worker thread inside a supervised child process
 * (ProcessWorker, process-worker.ts). Both present the same shared-memory view (`ctrl`, `data`),
 * so the pool, doorbell, bridge and deadline watch run the same code for either.
 */
import { Worker } from 'node:worker_threads';
import type { CompiledComponent } from '../components/registry.js';
import type { Logger } from '../observability/logger.js';
import { CTRL_INTS, DATA_BYTES, DOORBELL, IDLE, JOB_SEQ, RESP_SEQ, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** What a worker is given at spawn besides its own buffers. */
export interface WorkerSettings {
  readonly pressure: SharedArrayBuffer;
  readonly epoch: number;
  readonly maxInstances: number;
  readonly maxInstanceBytes: number;
  /** The worker thread's V8 old-generation cap (MiB); 512 when not given. */
  readonly heapMib?: number;
}

/** What the pool hears from a worker: it is ready for jobs, or it died (`how`: "exit code 1", "signal SIGKILL"). */
export interface WorkerEvents {
  ready(w: GuestWorker): void;
  exit(w: GuestWorker, how: string): void;
}

/** The (component, WASI grants) key of a spare instance. */
export const preloadKey = (moduleKey: string, wasi: readonly string[]): string => `${moduleKey}|${[...wasi].sort().join(',')}`;

export abstract class GuestWorker {
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
  /** Whether the main thread may spin on this worker's shared memory for a result (not when answers arrive as events). */
  abstract readonly spins: boolean;
  /** What its death is called in the error of the call it ran. */
  abstract readonly noun: string;
  readonly #started: () => void;

  constructor(
    readonly id: number,
    ctrlBuf: SharedArrayBuffer,
    dataBuf: SharedArrayBuffer,
    protected readonly on: WorkerEvents,
  ) {
    let started!: () => void;
    this.started = new Promise<void>((r) => (started = r));
    this.#started = started;
    this.ctrl = new Int32Array(ctrlBuf);
    this.data = Buffer.from(dataBuf);
  }

  /** Send a message (compiled modules, a spare to prepare). */
  abstract post(msg: ToWorker): void;
  /** Job `callId` (`length` bytes) has been written into its JOB slot: hand it over. */
  abstract jobWritten(callId: number, length: number): void;
  /** The bridge reply to request `seq` has been written (BRIDGE area, LEN): hand it over. */
  abstract replied(seq: number): void;
  /** Stop it for good; its doorbell waiter is woken so it sees the worker is gone. */
  abstract terminate(): Promise<void>;

  /** Send `c`'s compiled modules unless it has them. */
  load(c: CompiledComponent): void {
    if (this.loaded.has(c.key)) return;
    this.sendLoad(c);
    this.loaded.add(c.key);
  }

  protected abstract sendLoad(c: CompiledComponent): void;

  /** A message from the worker itself. */
  protected heard(msg: FromWorker): void {
    if (msg.type === 'ready') {
      this.ready = true;
      this.#started();
      this.on.ready(this);
    } else if (msg.type === 'prepared') {
      const key = preloadKey(msg.moduleKey, msg.wasi);
      this.preparing.get(key)?.();
      this.preparing.delete(key);
    }
  }

  /** The worker is gone: whatever waited for it is released, and the pool hears of it unless it was retired. */
  protected exited(how: string): void {
    this.#started();
    for (const done of this.preparing.values()) done();
    this.preparing.clear();
    const wasAlive = this.alive;
    this.alive = false;
    if (wasAlive) this.on.exit(this, how);
  }

  /** Wake the doorbell waiter. */
  protected ring(): void {
    Atomics.add(this.ctrl, DOORBELL, 1);
    Atomics.notify(this.ctrl, DOORBELL);
  }
}

/** A worker thread of this process, sharing its memory directly. */
export class ThreadWorker extends GuestWorker {
  readonly spins = true;
  readonly noun = 'the worker running this call stopped';
  readonly worker: Worker;

  constructor(id: number, settings: WorkerSettings, log: Logger, on: WorkerEvents) {
    const ctrlBuf = new SharedArrayBuffer(CTRL_INTS * 4);
    const dataBuf = new SharedArrayBuffer(DATA_BYTES);
    super(id, ctrlBuf, dataBuf, on);
    const init: WorkerInit = { ctrl: ctrlBuf, data: dataBuf, ...settings };
    this.worker = new Worker(WORKER_URL, { workerData: init, resourceLimits: { maxOldGenerationSizeMb: settings.heapMib ?? 512 }, stderr: false });
    this.worker.on('message', (msg: FromWorker) => this.heard(msg));
    this.worker.on('error', (err) => log.error({ event: 'worker-error', worker: id, err: err.message }, 'guest worker failed'));
    this.worker.on('exit', (code) => this.exited(`exit code ${code}`));
  }

  post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  jobWritten(callId: number): void {
    Atomics.store(this.ctrl, JOB_SEQ, callId);
    // A worker that is not asleep will find the job itself (IDLE is set before it sleeps, and read after JOB_SEQ is written).
    if (Atomics.load(this.ctrl, IDLE) === 1) Atomics.notify(this.ctrl, JOB_SEQ);
  }

  replied(seq: number): void {
    Atomics.store(this.ctrl, RESP_SEQ, seq);
    Atomics.notify(this.ctrl, RESP_SEQ);
  }

  protected sendLoad(c: CompiledComponent): void {
    this.post({ type: 'load', moduleKey: c.key, glueUrl: c.component.glueUrl, world: c.component.world, memoryBytes: c.memoryBytes, heapBytes: c.heapBytes, modules: [...c.modules] });
  }

  async terminate(): Promise<void> {
    this.alive = false;
    this.ring();
    await this.worker.terminate();
  }
}

/** How a pool's workers are made: threads of this process, or threads inside supervised child processes (process-worker.ts). */
export interface WorkerTransport {
  spawn(id: number, settings: WorkerSettings, log: Logger, on: WorkerEvents): GuestWorker;
}

export const THREAD_TRANSPORT: WorkerTransport = { spawn: (id, settings, log, on) => new ThreadWorker(id, settings, log, on) };
