import type { ComponentWorld } from '../components/registry.js';
import type { GreenticCallInfo } from '../greentic/envelope.js';
import type { DenialEvent } from '../observability/metrics.js';
import type { SessionKey } from '../stores/keys.js';
import type { Limits } from '../tenancy/model.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';

/**
 * The wire between the main thread and a guest worker. Compiled modules travel by postMessage
 * ('load'), and so do the guest's stdout/stderr lines; calls, their results and capability
 * calls cross one SharedArrayBuffer per worker, so neither side waits for an event-loop turn
 * when the other answers quickly (both spin briefly before sleeping).
 *
 * `ctrl` (Int32Array) slots:
 *   REQ_SEQ, RESP_SEQ, LEN     a capability request from the guest and its reply (the BRIDGE area)
 *   JOB_SEQ, JOB_LEN           a call from the main thread (the JOB area)
 *   DONE_SEQ, DONE_LEN         its result (the DONE area)
 *   DOORBELL                   bumped by the worker whenever it posts a request or a result
 */
export const REQ_SEQ = 0;
export const RESP_SEQ = 1;
export const LEN = 2;
export const JOB_SEQ = 3;
export const JOB_LEN = 4;
export const DONE_SEQ = 5;
export const DONE_LEN = 6;
export const DOORBELL = 7;
export const CTRL_INTS = 8;
/** The bridge area: the largest capability request or reply. */
export const BRIDGE_BYTES = 1 << 20;
/** The job and done areas: a call with its state snapshot, a result with its effects. */
export const JOB_BYTES = 16 << 20;
export const JOB_OFFSET = BRIDGE_BYTES;
export const DONE_OFFSET = BRIDGE_BYTES + JOB_BYTES;
export const DATA_BYTES = BRIDGE_BYTES + 2 * JOB_BYTES;

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
  /** DATA_BYTES: the bridge, job and done areas. */
  readonly data: SharedArrayBuffer;
  /** Most instances a worker keeps warm (least recently used go first). */
  readonly maxInstances: number;
  /** Most bytes of linear memory the warm instances of one worker may hold together. */
  readonly maxInstanceBytes: number;
}

/**
 * What the worker needs to check and serve a call's state, messaging and log calls itself,
 * with the same capability code as the main thread (a per-call snapshot: the session's working
 * memory goes in with the call and comes back with its result). Secrets still cross.
 */
export interface ScopeSnapshot {
  readonly session: SessionKey;
  readonly working: Array<[string, string]>;
  /** The parts shared by every call of one node in one scope (the same object for all of them in a worker). */
  readonly fixed: FixedScope;
}

/** What a call's scope has in common with every other call of its node in the same scope. */
export interface FixedScope {
  readonly channel: string;
  readonly teamChannels: string[];
  readonly flow: string;
  readonly node: string;
  readonly component: string;
  readonly state: 'none' | 'read' | 'write';
  readonly messaging: boolean;
  readonly log: boolean;
  readonly limits: Limits;
}

/** What a call did besides its output: applied to the main thread's scope when it returns. */
export interface CallEffects {
  /** The working memory after the call, or null if the call did not change it. */
  readonly working: Array<[string, string]> | null;
  readonly outbox: Array<{ channel: string; text: string }>;
  /** Log lines of the call's scope: [level, fields, message]. */
  readonly logs: Array<[string, Record<string, unknown>, string]>;
  readonly denials: DenialEvent[];
  readonly capabilityCalls: number;
  readonly outputBytes: number;
}

export type ToWorker =
  | {
      type: 'load';
      moduleKey: string;
      glueUrl: string;
      world: ComponentWorld;
      memoryBytes: number;
      /** The heap one instance can take for what its modules declare (CompiledComponent.heapBytes). */
      heapBytes: number;
      modules: Array<[string, WebAssembly.Module]>;
    }
  /** Keep one fresh, never-called instance of these modules with these WASI grants ready for the next tenant that needs one. */
  | { type: 'prepare'; moduleKey: string; wasi: string[] };

/** A call, written into the JOB area. */
export type CallJob = {
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
  scope: ScopeSnapshot;
};

/** Why a guest call did not produce an output, as the worker saw it. */
export type GuestFailure =
  | { kind: 'node-error'; code: string; message: string; retryable: boolean }
  | { kind: 'trap'; message: string; outOfMemory: boolean }
  /** The guest called wasi:cli/exit; `status` says how ("status err", "code 3"). */
  | { kind: 'exit'; status: string }
  | { kind: 'instantiate'; message: string }
  /** The guest handed the host more than its value budget allows (value-budget.ts); the message says which. */
  | { kind: 'limit'; message: string };

/** The worker's only message: it is ready for calls. (Guest stdout/stderr lines come back with each call's effects.) */
export type FromWorker =
  | { type: 'ready' }
  /** A 'prepare' is done: its spare instance is ready (or could not be made; a call will say why). */
  | { type: 'prepared'; moduleKey: string; wasi: string[] };

/** A call's result, written into the DONE area. */
export type CallResult = (
  | { callId: number; ok: true; output: unknown; instantiated: boolean; memoryBytes: number; evicted: string[] }
  | { callId: number; ok: false; failure: GuestFailure; evicted: string[] }
) & { effects: CallEffects };

/** A bridge reply: a value, a guest-visible cap-error, or a host fault that traps the guest. */
export type BridgeReply = { ok: unknown } | { err: { tag: string; val: string } } | { fatal: string };
