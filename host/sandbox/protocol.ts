import type { ComponentWorld } from '../components/registry.js';
import type { GreenticCallInfo } from '../greentic/envelope.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';

/**
 * The wire between the main thread and a guest worker. Calls and results travel by
 * postMessage; capability calls cross a SharedArrayBuffer so the guest can block on them.
 *
 * Bridge layout: `ctrl` (Int32Array) holds [REQ_SEQ, RESP_SEQ, LEN]; `data` holds one JSON
 * request or reply. The worker writes a request, bumps REQ_SEQ and waits on RESP_SEQ; the
 * main thread's broker answers and sets RESP_SEQ to the same number.
 */
export const REQ_SEQ = 0;
export const RESP_SEQ = 1;
export const LEN = 2;
export const CTRL_INTS = 4;
/** Size of the bridge's data area: the largest capability request or reply. */
export const BRIDGE_BYTES = 1 << 20;

/** The node call's input as the WIT `invocation` record. */
export interface NodeInvocation {
  nodeId: string;
  message: { text: string; userId: string; channel: string };
  config: string;
  resumed: boolean;
}

/** The WIT `next-step` variant. */
export type NextStep = { tag: 'proceed' } | { tag: 'route'; val: string } | { tag: 'wait' } | { tag: 'end' };

/** The WIT `node-output` record. */
export interface NodeOutput {
  replies: string[];
  next: NextStep;
}

/**
 * What a call asks of an instance: run it as a flow node (both worlds), or, for a Greentic
 * component, describe() it or invoke an op on a payload as given (`greentic-host describe|call`).
 */
export type CallKind = 'node' | 'describe' | 'raw';

/** The op and JSON payload of a raw Greentic invocation. */
export interface RawRequest {
  readonly op: string | undefined;
  readonly payload: unknown;
}

export interface WorkerInit {
  readonly ctrl: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
  /** Most instances a worker keeps warm (least recently used go first). */
  readonly maxInstances: number;
  /** Most bytes of linear memory the warm instances of one worker may hold together. */
  readonly maxInstanceBytes: number;
}

export type ToWorker =
  | { type: 'load'; moduleKey: string; glueUrl: string; world: ComponentWorld; memoryBytes: number; modules: Array<[string, WebAssembly.Module]> }
  | {
      type: 'invoke';
      callId: number;
      kind: CallKind;
      /** The compiled modules (digest and memory cap) to instantiate. */
      moduleKey: string;
      instanceKey: string;
      ctx: TenantCtx;
      input: NodeInvocation;
      /** Flow, component and absolute deadline: what a Greentic envelope needs beyond the ctx. */
      info: GreenticCallInfo;
      raw?: RawRequest | undefined;
      /** WASI interfaces requested and granted; used when the instance is created. */
      wasi: string[];
      /** Capability calls this call may make; the worker refuses the rest without crossing. */
      maxCapabilityCalls: number;
    }
  | { type: 'evict'; instanceKey: string };

/** Why a guest call did not produce an output, as the worker saw it. */
export type GuestFailure =
  | { kind: 'node-error'; code: string; message: string; retryable: boolean }
  | { kind: 'trap'; message: string; outOfMemory: boolean }
  /** The guest called wasi:cli/exit; `status` says how ("status err", "code 3"). */
  | { kind: 'exit'; status: string }
  | { kind: 'instantiate'; message: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; callId: number; ok: true; output: unknown; instantiated: boolean; memoryBytes: number; evicted: string[] }
  | { type: 'done'; callId: number; ok: false; failure: GuestFailure; evicted: string[] }
  /** A line the guest wrote to stdout or stderr during call `callId`; the main thread logs it under the call's scope. */
  | { type: 'guest-output'; callId: number; stream: 'stdout' | 'stderr'; line: string };

/** A bridge reply: a value, a guest-visible cap-error, or a host fault that traps the guest. */
export type BridgeReply = { ok: unknown } | { err: { tag: string; val: string } } | { fatal: string };
