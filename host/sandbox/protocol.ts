import type { ComponentWorld } from '../components/registry.js';
import type { NextStep } from '../components/node-world.js';
import type { GreenticAbi } from '../greentic/abi.js';
import type { CallLocale, GreenticCallInfo } from '../greentic/envelope.js';
import type { DenialEvent } from '../observability/metrics.js';
import type { SessionKey } from '../stores/keys.js';
import type { Limits } from '../tenancy/model.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';

export type { NextStep, NodeInvocation, NodeOutput } from '../components/node-world.js';

/**
 * The wire between the main thread and a guest worker. Compiled modules travel by postMessage
 * ('load'); jobs (a whole turn, or one call), their results and capability calls cross one
 * SharedArrayBuffer per worker, so neither side waits for an event-loop turn when the other
 * answers quickly (each spins briefly first when a core is free: waiting.ts).
 *
 * `ctrl` (Int32Array) slots:
 *   REQ_SEQ, RESP_SEQ, LEN     a capability request from the guest and its reply (the BRIDGE area)
 *   JOB_SEQ                    jobs written so far; job n is in JOB slot (n - 1) % JOB_SLOTS
 *   DONE_SEQ                   results written so far; the result of job n is in DONE slot (n - 1) % JOB_SLOTS
 *   DOORBELL                   bumped by the worker whenever it posts a request or a result
 *   STEP_NODE, STEP_DEADLINE   the plan node running now and its deadline (ms past the pool's
 *                              epoch; 0 between nodes), which the main thread's deadline watch reads
 *   IDLE                       1 while the worker sleeps waiting for a job (only then does a new job need a wake-up)
 *   DONE_LEN (JOB_SLOTS ints)  the length of the result in each DONE slot, so that a relay (process tier) copies only that
 *
 * Two job slots let the main thread hand a worker its next job while it runs the current one
 * (only a job of the same tenant, and only while no other tenant waits: pool.ts), so a busy
 * worker goes from one job to the next without sleeping.
 */
export const REQ_SEQ = 0;
export const RESP_SEQ = 1;
export const LEN = 2;
export const JOB_SEQ = 3;
export const DONE_SEQ = 4;
export const DOORBELL = 5;
export const STEP_NODE = 6;
export const STEP_DEADLINE = 7;
export const IDLE = 8;
export const DONE_LEN = 9;
/** The bridge area: the largest capability request or reply. */
export const BRIDGE_BYTES = 1 << 20;
/** Jobs a worker may hold at once: the one it runs and the next. */
export const JOB_SLOTS = 2;
/** The ctrl ints: the slots above, then DONE_LEN's one per job slot. */
export const CTRL_INTS = DONE_LEN + JOB_SLOTS;
/** One job slot or done slot: a turn with its state snapshot, a result with its effects. */
export const JOB_BYTES = 8 << 20;
export const DATA_BYTES = BRIDGE_BYTES + 2 * JOB_SLOTS * JOB_BYTES;
/** Where job n's slot starts. */
export const jobOffset = (n: number): number => BRIDGE_BYTES + ((n - 1) % JOB_SLOTS) * JOB_BYTES;
/** Where job n's result slot starts. */
export const doneOffset = (n: number): number => BRIDGE_BYTES + (JOB_SLOTS + ((n - 1) % JOB_SLOTS)) * JOB_BYTES;
/** The ctrl slot holding the length of job n's result. */
export const doneLenSlot = (n: number): number => DONE_LEN + ((n - 1) % JOB_SLOTS);

/**
 * The pool-wide `pressure` Int32Array every worker shares with the main thread (waiting.ts):
 *   SPIN_OK     1 while a core is idle (measured by the main thread), so spinning costs no one
 *   SPUN_US     microseconds spent spinning since the last sample, added by every thread
 */
export const SPIN_OK = 0;
export const SPUN_US = 1;
export const PRESSURE_INTS = 2;

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
  /** PRESSURE_INTS, shared by the whole pool. */
  readonly pressure: SharedArrayBuffer;
  /** The pool's epoch (performance.timeOrigin + performance.now() on the main thread when it started), for STEP_DEADLINE. */
  readonly epoch: number;
  /** Most instances a worker keeps warm (least recently used go first). */
  readonly maxInstances: number;
  /** Most bytes of linear memory the warm instances of one worker may hold together. */
  readonly maxInstanceBytes: number;
}

/** What a node call's scope has in common with every other call of its node: its permissions as the worker checks them. */
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

/** One node of a turn plan: which component, under which permissions, and where the flow goes after it. */
export interface PlanNode {
  readonly id: string;
  /** The component's type name in the flow (metrics, the Greentic component-id). */
  readonly type: string;
  /** The compiled modules (digest and memory cap) to instantiate. */
  readonly moduleKey: string;
  readonly config: string;
  /** WASI interfaces requested and granted; used when the instance is created. */
  readonly wasi: string[];
  readonly scope: FixedScope;
  /** Index of the node after this one on `proceed`; -1: the turn ends. */
  readonly next: number;
  /** Route label -> node index. */
  readonly routes: Array<[string, number]>;
  /** A Greentic node's op input schema from its manifest (JSON Schema), when it declares one. */
  readonly inputSchema?: unknown;
}

/**
 * Everything a worker needs to run turns of one (tenant, env, team, channel, flow): sent once
 * per worker and named by number afterwards. `single` plans have one node, called once, whose
 * output is returned as it is (`greentic-host call`, the pool's `invoke`).
 */
export interface TurnPlan {
  readonly tenantId: string;
  readonly envId: string;
  readonly teamId: string | undefined;
  readonly channel: string;
  readonly flow: string;
  readonly maxSteps: number;
  readonly sessionBase: { readonly tenant: string; readonly env: string; readonly team: string };
  readonly nodes: PlanNode[];
  readonly single: boolean;
  /** The environment's time zone and language, told to every node (absent: the defaults, UTC and en). */
  readonly locale?: CallLocale;
}

/** One turn: a plan and what varies per message. */
export interface TurnJob {
  readonly callId: number;
  readonly planId: number;
  /** Included the first time a worker sees the plan. */
  readonly plan: TurnPlan | undefined;
  readonly sessionId: string;
  readonly userId: string;
  readonly traceId: string;
  readonly text: string;
  /** The node the turn starts at, and whether the flow waited there. */
  readonly start: number;
  readonly resumed: boolean;
  readonly working: ReadonlyArray<[string, string]>;
}

/** One call of a kind other than a flow node (describe, raw), written into the JOB area as CBOR. */
export type CallJob = {
  callId: number;
  kind: CallKind;
  moduleKey: string;
  instanceKey: string;
  ctx: TenantCtx;
  input: { nodeId: string; message: { text: string; userId: string; channel: string }; config: string; resumed: boolean };
  /** Flow, component and absolute deadline: what a Greentic envelope needs beyond the ctx. */
  info: GreenticCallInfo;
  raw?: RawRequest | undefined;
  /** The raw op's input schema from the component's manifest, when it declares one. */
  inputSchema?: unknown;
  wasi: string[];
  session: SessionKey;
  fixed: FixedScope;
};

/** Why a guest call did not produce an output, as the worker saw it. */
export type GuestFailure =
  | { kind: 'node-error'; code: string; message: string; retryable: boolean }
  | { kind: 'trap'; message: string; outOfMemory: boolean }
  /** The guest called wasi:cli/exit; `status` says how ("status err", "code 3"). */
  | { kind: 'exit'; status: string }
  | { kind: 'instantiate'; message: string }
  /** The guest handed the host more than its value budget allows (value-budget.ts); the message says which. */
  | { kind: 'limit'; message: string }
  /** The host refused what the guest did (an output past a limit, an undeclared route, a routing loop). */
  | { kind: 'host'; code: string; message: string; retryable: boolean };

/** A log line of a job, recorded in the worker: [plan node index, level, fields, message]. */
export type LoggedLine = [number, string, Record<string, unknown>, string];

/** A node a turn ran: its plan index and how long it took (ms). */
export interface StepRecord {
  readonly node: number;
  readonly ms: number;
}

/** What a job did besides its output, applied on the main thread when it returns. */
export interface JobEffects {
  /** The working memory after the job, or null if it did not change. */
  readonly working: Array<[string, string]> | null;
  readonly outbox: Array<{ channel: string; text: string }>;
  readonly logs: LoggedLine[];
  readonly denials: Array<[number, DenialEvent]>;
  readonly steps: StepRecord[];
}

/** A job's result, written into the DONE area. `cursor` is where a turn waits (a plan node index), -1 for none. */
export type JobResult = (
  { callId: number; ok: true; cursor: number; next: NextStep | undefined; output: unknown } | { callId: number; ok: false; failure: GuestFailure; node: number }
) & { effects: JobEffects; evicted: string[] };

export type ToWorker =
  | {
      type: 'load';
      moduleKey: string;
      glueUrl: string;
      world: ComponentWorld;
      /** A Greentic component's ABI, and the Greentic host interfaces it imports with their versions. */
      abi?: GreenticAbi | undefined;
      hostImports?: Array<[string, string]>;
      memoryBytes: number;
      /** The heap one instance can take for what its modules declare (CompiledComponent.heapBytes). */
      heapBytes: number;
      modules: Array<[string, WebAssembly.Module]>;
    }
  /** Keep one fresh, never-called instance of these modules with these WASI grants ready for the next tenant that needs one. */
  | { type: 'prepare'; moduleKey: string; wasi: string[] };

export type FromWorker =
  | { type: 'ready' }
  /** A 'prepare' is done: its spare instance is ready (or could not be made; a call will say why). */
  | { type: 'prepared'; moduleKey: string; wasi: string[] };

/** A bridge request: [job number, plan node index, capability, function, arguments]. */
export type BridgeRequest = [number, number, string, string, unknown[]];

/** A bridge reply: a value, a guest-visible cap-error, or a host fault that traps the guest. */
export type BridgeReply = { ok: unknown } | { err: { tag: string; val: string } } | { fatal: string };
