/**
 * Turn plans: numbered once by the pool, sent to each worker once, and named by number in
 * every job after that. A flow's plans are made by the flow layer (flow/turn-plan.ts); a call
 * its caller scoped itself becomes a one-node plan here, made once per distinct scope shape.
 */
import type { InvocationScope } from '../capabilities/scope.js';
import type { CompiledComponent } from '../components/registry.js';
import type { NodeInvocation } from '../components/node-world.js';
import type { Permissions } from '../tenancy/grants.js';
import type { PlannedTurn } from './jobs.js';
import type { FixedScope, TurnPlan } from './protocol.js';

/** The part of `scope` a worker checks its calls against. */
export function fixedScopeOf(scope: InvocationScope): FixedScope {
  const p = scope.permissions;
  return {
    channel: scope.channel,
    teamChannels: [...scope.teamChannels],
    flow: scope.flow,
    node: scope.node,
    component: p.component,
    state: p.state,
    messaging: p.messaging,
    log: p.log,
    limits: p.limits,
  };
}

export class PlanBook {
  #nextId = 1;
  /** One-node plans, by the permissions object (computed once per environment and component) and the rest of the scope. */
  readonly #single = new WeakMap<Permissions, Map<string, PlannedTurn>>();

  /** Number a plan. */
  plan(wire: TurnPlan, components: readonly CompiledComponent[], permissions: readonly Permissions[], teamChannels: ReadonlySet<string>): PlannedTurn {
    return { id: this.#nextId++, wire, components, permissions, teamChannels };
  }

  /** The one-node plan that calls `component` once under `scope` with `input`'s node id and config. */
  single(component: CompiledComponent, scope: InvocationScope, input: NodeInvocation): PlannedTurn {
    let channels = '';
    for (const c of scope.teamChannels) channels += `${c},`;
    const ctx = scope.ctx;
    const key = `${ctx.tenantId}\n${ctx.envId}\n${ctx.teamId ?? ''}\n${scope.channel}\n${scope.flow}\n${scope.node}\n${component.key}\n${input.nodeId}\n${channels}\n${input.config}`;
    let byKey = this.#single.get(scope.permissions);
    if (!byKey) {
      byKey = new Map();
      this.#single.set(scope.permissions, byKey);
    }
    let planned = byKey.get(key);
    if (!planned) {
      const s = scope.session;
      const wire: TurnPlan = {
        tenantId: ctx.tenantId,
        envId: ctx.envId,
        teamId: ctx.teamId,
        channel: scope.channel,
        flow: scope.flow,
        maxSteps: 1,
        sessionBase: { tenant: s.tenant, env: s.env, team: s.team },
        nodes: [
          {
            id: input.nodeId,
            type: scope.permissions.component,
            moduleKey: component.key,
            config: input.config,
            wasi: [...scope.permissions.wasi],
            scope: fixedScopeOf(scope),
            next: -1,
            routes: [],
          },
        ],
        single: true,
      };
      planned = this.plan(wire, [component], [scope.permissions], scope.teamChannels);
      byKey.set(key, planned);
    }
    return planned;
  }
}
