/**
 * Jobs as the main thread keeps them while they wait for or run in a worker: a turn of a flow
 * (the executor's), or one call (a node outside a flow, describe, raw). Each knows its wire
 * form, the scope a crossing capability call of its nodes is checked against, and where its
 * result goes. What a job's calls logged and were denied is applied here, with each node's full
 * scope, a slice at a time so that one tenant's logging never holds the event loop for long.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { InvocationScope, type OutgoingMessage, type ScopeLogger, type ScopeServices } from '../capabilities/scope.js';
import type { NextStep, NodeOutput } from '../components/node-world.js';
import type { CompiledComponent } from '../components/registry.js';
import type { SessionKey } from '../stores/keys.js';
import type { Permissions } from '../tenancy/grants.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import type { NodeError } from './errors.js';
import type { CallJob, JobEffects, JobResult, StepRecord, TurnJob, TurnPlan } from './protocol.js';

/** Log lines applied before the main thread yields to its event loop. */
const LOG_SLICE = 64;

/** A turn plan as the pool numbered it, with what the main thread needs about each node. */
export interface PlannedTurn {
  readonly id: number;
  readonly wire: TurnPlan;
  readonly components: readonly CompiledComponent[];
  readonly permissions: readonly Permissions[];
  readonly teamChannels: ReadonlySet<string>;
}

/** One message's turn of a planned flow. */
export interface TurnRequest {
  readonly plan: PlannedTurn;
  readonly session: SessionKey;
  readonly userId: string;
  readonly traceId: string;
  readonly text: string;
  readonly start: number;
  readonly resumed: boolean;
  readonly working: ReadonlyArray<[string, string]>;
  readonly services: ScopeServices;
}

/** How a turn ended: where the flow waits (-1: it ended), its state and outbox; or the error of the node that failed. */
export type TurnOutcome =
  | {
      ok: true;
      cursor: number;
      working: Array<[string, string]> | null;
      outbox: OutgoingMessage[];
      steps: StepRecord[];
      next: NextStep | undefined;
      output: NodeOutput | undefined;
    }
  | { ok: false; error: NodeError; node: number; steps: StepRecord[] };

/** A job waiting for, or running in, a worker. */
export interface PoolJob {
  readonly tenant: string;
  /** The instance key of its first call: a worker that has it warm is preferred. */
  readonly instanceKey: string;
  readonly components: readonly CompiledComponent[];
  /** The wire form; `planKnown` says whether the worker has the plan already. */
  wire(callId: number, planKnown: (id: number) => boolean): TurnJob | CallJob;
  /** The component name and permissions of plan node `node`, and its instance key. */
  node(node: number): { component: string; permissions: Permissions; instanceKey: string };
  /** The main thread's scope for a capability call of node `node` that crosses the bridge (secrets). */
  bridgeScope(node: number): InvocationScope;
  /** Settle with what the worker reported (its effects are applied first), or a failure the pool saw. */
  settle(result: JobResult | { error: NodeError; node: number }): Promise<void>;
}

/** The ctx of `plan`'s nodes for one message. */
export function planCtx(plan: TurnPlan, session: SessionKey, userId: string, traceId: string): TenantCtx {
  return { tenantId: plan.tenantId, envId: plan.envId, teamId: plan.teamId, sessionId: session.session, userId, traceId };
}

/** A main-thread scope of plan node `node`, for the bridge and for logging what the worker recorded. */
export function nodeScope(p: PlannedTurn, node: number, ctx: TenantCtx, session: SessionKey, services: ScopeServices): InvocationScope {
  const n = p.wire.nodes[node]!;
  return new InvocationScope({
    ctx,
    session,
    channel: p.wire.channel,
    teamChannels: p.teamChannels,
    permissions: p.permissions[node]!,
    flow: p.wire.flow,
    node: n.id,
    turn: { working: new Map(), outbox: [] },
    services,
  });
}

/**
 * Apply a job's log lines and denials: each line through the logger of its node's scope
 * (`loggerOf`), each denial to the metrics; LOG_SLICE lines at a time between event-loop turns.
 */
export async function applyRecorded(effects: JobEffects, loggerOf: (node: number) => ScopeLogger, services: ScopeServices): Promise<void> {
  for (const [, d] of effects.denials) services.metrics.recordDenial(d);
  const lines = effects.logs;
  for (let i = 0; i < lines.length; i++) {
    const [node, level, fields, message] = lines[i]!;
    loggerOf(node)[level as 'info'](fields, message);
    if ((i + 1) % LOG_SLICE === 0 && i + 1 < lines.length) await nextTurn();
  }
}
