/**
 * The main thread's side of the capability bridge: a guest's call that needs a store only the
 * main thread holds (secrets) arrives in the worker's BRIDGE area; it is checked and run here
 * against the main thread's scope of the node that made it (the same capability code as
 * everywhere), and the reply is written back and the worker woken.
 */
import { bindCapabilities, isCapabilityFunction, type BoundFunction, type CapabilityName } from '../capabilities/index.js';
import { CapabilityError } from '../capabilities/errors.js';
import type { InvocationScope } from '../capabilities/scope.js';
import type { GuestWorker } from './guest-worker.js';
import type { PoolJob } from './jobs.js';
import { BRIDGE_BYTES, LEN, type BridgeReply } from './protocol.js';

export class CapabilityBridge {
  /** Each scope's bound capability functions, made on its first crossing call. */
  readonly #bound = new WeakMap<InvocationScope, Record<CapabilityName, Record<string, BoundFunction>>>();

  /**
   * Answer request `seq` of `w`, made by the job `jobOf` finds by its number; `stillRunning`
   * says whether the worker still runs that job when the (possibly slow) answer is ready. Never throws.
   */
  async answer(w: GuestWorker, jobOf: (n: number) => PoolJob | undefined, seq: number, stillRunning: (job: PoolJob) => boolean): Promise<void> {
    let request: unknown[];
    try {
      request = JSON.parse(w.data.toString('utf8', 0, Atomics.load(w.ctrl, LEN))) as unknown[];
    } catch {
      request = [];
    }
    const job = Array.isArray(request) && typeof request[0] === 'number' ? jobOf(request[0]) : undefined;
    const reply: BridgeReply = job ? await this.#broker(job, request.slice(1)) : { fatal: 'capability request from no running job' };
    if (!w.alive || (job && !stillRunning(job))) return;
    let text = JSON.stringify(reply);
    if (Buffer.byteLength(text) > BRIDGE_BYTES) {
      text = JSON.stringify({ err: { tag: 'limit-exceeded', val: `reply larger than the ${BRIDGE_BYTES}-byte bridge` } } satisfies BridgeReply);
    }
    Atomics.store(w.ctrl, LEN, w.data.write(text, 0, 'utf8'));
    w.replied(seq);
  }

  /** Check and run one capability call against the scope of the node that made it. */
  async #broker(job: PoolJob, request: unknown[]): Promise<BridgeReply> {
    const [node, cap, fn, args] = request;
    if (typeof cap !== 'string' || typeof fn !== 'string' || !isCapabilityFunction(cap, fn) || !Array.isArray(args)) {
      return { fatal: `unknown capability function ${String(cap).slice(0, 40)}.${String(fn).slice(0, 40)}` };
    }
    if (!Number.isInteger(node) || (node as number) < 0 || (node as number) >= job.components.length)
      return { fatal: 'capability request from an unknown node' };
    const scope = job.bridgeScope(node as number);
    let bound = this.#bound.get(scope);
    if (!bound) this.#bound.set(scope, (bound = bindCapabilities(scope)));
    try {
      const value = await bound[cap]![fn]!(args[0], ...args.slice(1));
      return { ok: value === undefined ? null : value };
    } catch (e) {
      if (e instanceof CapabilityError) return { err: e.payload };
      scope.logger.error({ event: 'capability-fault', capability: `${cap}.${fn}`, err: (e as Error).message }, 'capability failed');
      return { err: { tag: 'unavailable', val: `${cap}.${fn}: internal error` } };
    }
  }
}
