/**
 * What the main thread does when a worker rings: a worker bumps DOORBELL whenever it posts a
 * capability request (answered by the bridge) or a job's result (handed to `onResult`). The
 * pool waits on the doorbell with Atomics.waitAsync while the worker runs a job, so the main
 * thread's event loop stays free, and also takes a result directly when it spun for it.
 */
import { CapabilityBridge } from './bridge.js';
import type { GuestWorker } from './guest-worker.js';
import { readResult } from './job-codec.js';
import type { PoolJob } from './jobs.js';
import { DONE_SEQ, doneOffset, DOORBELL, REQ_SEQ, type JobResult } from './protocol.js';

export class Doorbell<R extends { readonly job: PoolJob; readonly callId: number }> {
  readonly #bridge = new CapabilityBridge();

  constructor(
    /** The jobs `w` holds, in order: the one it runs, and the next. */
    private readonly jobsOn: (w: GuestWorker) => readonly R[] | undefined,
    private readonly onResult: (w: GuestWorker, run: R, result: JobResult) => void,
    /** Called once a bridge reply is written, before the doorbell is looked at again (the pool may wait for what follows). */
    private readonly onReplied: (w: GuestWorker) => void,
  ) {}

  /** Take what the worker posted: its results, in order, and a capability request to answer. */
  service(w: GuestWorker): void {
    while (Atomics.load(w.ctrl, DONE_SEQ) !== w.seenDone) {
      const n = ++w.seenDone;
      const run = this.jobsOn(w)?.find((r) => r.callId === n);
      if (run) this.onResult(w, run, readResult(w.data, doneOffset(n), n));
    }
    const req = Atomics.load(w.ctrl, REQ_SEQ);
    if (req !== w.seenReq && !w.answering) {
      w.seenReq = req;
      w.answering = true;
      const jobOf = (n: number) => this.jobsOn(w)?.find((r) => r.callId === n)?.job;
      void this.#bridge
        .answer(w, jobOf, req, (job) => this.jobsOn(w)?.some((r) => r.job === job) ?? false)
        .finally(() => {
          w.answering = false;
          if (!w.alive) return;
          this.onReplied(w);
          // What the worker posted since: its result, or a request that arrived while this one was answered.
          this.service(w);
        });
    }
  }

  /** True when `w` has posted something not yet taken. */
  pending(w: GuestWorker): boolean {
    return Atomics.load(w.ctrl, DONE_SEQ) !== w.seenDone || Atomics.load(w.ctrl, REQ_SEQ) !== w.seenReq;
  }

  /** Wait on the worker's doorbell while it runs a job; the loop ends when the worker goes idle or dies. */
  async arm(w: GuestWorker): Promise<void> {
    if (w.armed) return;
    w.armed = true;
    try {
      while (w.alive && this.jobsOn(w)) {
        const bell = Atomics.load(w.ctrl, DOORBELL);
        this.service(w);
        if (!w.alive || !this.jobsOn(w)) break;
        const waited = Atomics.waitAsync(w.ctrl, DOORBELL, bell);
        if (waited.async) await waited.value;
      }
    } finally {
      w.armed = false;
    }
  }
}
