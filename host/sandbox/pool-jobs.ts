/**
 * The two kinds of pool job: a turn of a planned flow (what the executor runs for a message),
 * and one call under a scope the caller built (a node outside a flow as a one-node plan;
 * describe and raw calls of a Greentic component).
 */
import type { InvocationScope, ScopeLogger } from '../capabilities/scope.js';
import type { NodeOutput } from '../components/node-world.js';
import type { CompiledComponent } from '../components/registry.js';
import { copyCtx, type TenantCtx } from '../tenancy/tenant-ctx.js';
import { failureError, type NodeError } from './errors.js';
import { fixedScopeOf, type PlanBook } from './plans.js';
import { applyRecorded, nodeScope, planCtx, type PlannedTurn, type PoolJob, type TurnOutcome, type TurnRequest } from './jobs.js';
import type { CallJob, CallKind, JobResult, NodeInvocation, RawRequest, TurnJob } from './protocol.js';

/** The failure a worker reported, as the NodeError the caller sees. */
function errorOf(result: Extract<JobResult, { ok: false }>, component: string, memoryMib: number): NodeError {
  return failureError(result.failure, component, memoryMib);
}

/** A turn of a planned flow. */
export class TurnPoolJob implements PoolJob {
  readonly tenant: string;
  readonly instanceKey: string;
  readonly components: readonly CompiledComponent[];
  readonly #ctx: TenantCtx;
  readonly #scopes = new Map<number, InvocationScope>();

  constructor(
    private readonly req: TurnRequest,
    private readonly resolve: (o: TurnOutcome) => void,
  ) {
    const plan = req.plan;
    this.tenant = plan.wire.tenantId;
    this.components = plan.components;
    this.instanceKey = this.node(req.start).instanceKey;
    this.#ctx = planCtx(plan.wire, req.session, req.userId, req.traceId);
  }

  wire(callId: number, planKnown: (id: number) => boolean): TurnJob {
    const r = this.req;
    return {
      callId,
      planId: r.plan.id,
      plan: planKnown(r.plan.id) ? undefined : r.plan.wire,
      sessionId: r.session.session,
      userId: r.userId,
      traceId: r.traceId,
      text: r.text,
      start: r.start,
      resumed: r.resumed,
      working: r.working,
    };
  }

  node(node: number): { component: string; permissions: PlannedTurn['permissions'][number]; instanceKey: string } {
    const p = this.req.plan;
    const permissions = p.permissions[node]!;
    return { component: permissions.component, permissions, instanceKey: `${p.wire.tenantId}/${p.wire.envId}/${p.components[node]!.key}` };
  }

  bridgeScope(node: number): InvocationScope {
    let s = this.#scopes.get(node);
    if (!s) {
      s = nodeScope(this.req.plan, node, this.#ctx, this.req.session, this.req.services);
      this.#scopes.set(node, s);
    }
    return s;
  }

  async settle(result: JobResult | { error: NodeError; node: number }): Promise<void> {
    if (!('callId' in result)) {
      this.resolve({ ok: false, error: result.error, node: result.node, steps: [{ node: result.node, ms: NaN }] });
      return;
    }
    const loggers = new Map<number, ScopeLogger>();
    const loggerOf = (node: number): ScopeLogger => {
      let l = loggers.get(node);
      if (!l) loggers.set(node, (l = this.bridgeScope(node).logger));
      return l;
    };
    await applyRecorded(result.effects, loggerOf, this.req.services);
    const e = result.effects;
    if (result.ok) {
      this.resolve({
        ok: true,
        cursor: result.cursor,
        working: e.working,
        outbox: e.outbox,
        steps: e.steps,
        next: result.next,
        output: result.output as NodeOutput | undefined,
      });
    } else {
      const n = this.node(result.node);
      this.resolve({ ok: false, error: errorOf(result, n.component, n.permissions.limits.memoryMib), node: result.node, steps: e.steps });
    }
  }
}

/** One call the caller scoped itself: what `WorkerPool.invoke` takes. */
export interface GuestCall {
  readonly component: CompiledComponent;
  readonly scope: InvocationScope;
  readonly input: NodeInvocation;
  /** A flow node call unless said otherwise; `describe` and `raw` are for Greentic components. */
  readonly kind?: CallKind;
  readonly raw?: RawRequest;
}

/** A describe or raw call of a Greentic component. */
export class CallPoolJob implements PoolJob {
  readonly tenant: string;
  readonly instanceKey: string;
  readonly components: readonly CompiledComponent[];

  constructor(
    private readonly call: GuestCall,
    private readonly resolve: (output: unknown) => void,
    private readonly reject: (e: NodeError) => void,
  ) {
    const s = call.scope;
    this.tenant = s.ctx.tenantId;
    this.instanceKey = `${s.ctx.tenantId}/${s.ctx.envId}/${call.component.key}`;
    this.components = [call.component];
  }

  wire(callId: number): CallJob {
    const { scope, component, input, kind, raw } = this.call;
    return {
      callId,
      kind: kind ?? 'node',
      moduleKey: component.key,
      instanceKey: this.instanceKey,
      ctx: copyCtx(scope.ctx),
      input,
      info: { flow: scope.flow, component: scope.permissions.component, deadlineAt: Date.now() + scope.permissions.limits.deadlineMs },
      raw,
      wasi: [...scope.permissions.wasi],
      session: scope.session,
      fixed: fixedScopeOf(scope),
    };
  }

  node(): { component: string; permissions: InvocationScope['permissions']; instanceKey: string } {
    return { component: this.call.scope.permissions.component, permissions: this.call.scope.permissions, instanceKey: this.instanceKey };
  }

  bridgeScope(): InvocationScope {
    return this.call.scope;
  }

  async settle(result: JobResult | { error: NodeError; node: number }): Promise<void> {
    if (!('callId' in result)) return this.reject(result.error);
    const scope = this.call.scope;
    await applyRecorded(result.effects, () => scope.logger, scope.services);
    if (result.ok) this.resolve(result.output);
    else this.reject(errorOf(result, scope.permissions.component, scope.permissions.limits.memoryMib));
  }
}

/**
 * The job of a call its caller scoped: a flow node call runs as a one-node plan (its state
 * and outbox applied to the caller's scope), describe and raw calls as they are.
 */
export function callJob(plans: PlanBook, call: GuestCall, resolve: (output: unknown) => void, reject: (e: NodeError) => void): PoolJob {
  if ((call.kind ?? 'node') !== 'node') return new CallPoolJob(call, resolve, reject);
  const { scope, input } = call;
  const req: TurnRequest = {
    plan: plans.single(call.component, scope, input),
    session: scope.session,
    userId: scope.ctx.userId,
    traceId: scope.ctx.traceId,
    text: input.message.text,
    start: 0,
    resumed: input.resumed,
    working: [...scope.turn.working],
    services: scope.services,
  };
  return new TurnPoolJob(req, (o) => {
    if (!o.ok) return reject(o.error);
    applyToScope(scope, o);
    resolve(o.output);
  });
}

/** Apply a one-node turn's state and outbox to the scope the caller made it with. */
function applyToScope(scope: InvocationScope, outcome: Extract<TurnOutcome, { ok: true }>): void {
  if (outcome.working) {
    scope.turn.working.clear();
    for (const [k, v] of outcome.working) scope.turn.working.set(k, v);
  }
  for (const o of outcome.outbox) scope.turn.outbox.push(o);
}
