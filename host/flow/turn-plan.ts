/**
 * The plan a worker runs a turn by: a flow's nodes, in one environment, team and channel, with
 * each node's compiled component, its permissions (the manifest's request AND the tenant's
 * grant, as the worker checks them) and the routing between nodes. Made once per (flow,
 * environment, team, channel) and numbered by the pool, which sends it to each worker once.
 */
import type { PlannedTurn } from '../sandbox/jobs.js';
import type { WorkerPool } from '../sandbox/pool.js';
import type { PlanNode, TurnPlan } from '../sandbox/protocol.js';
import type { Flow } from './loader.js';
import type { TenantRuntime } from './runtime.js';

export class TurnPlans {
  /** By flow object (a reloaded flow is a new object), then "env/team/channel". */
  readonly #plans = new WeakMap<Flow, Map<string, { plan: PlannedTurn; index: ReadonlyMap<string, number> }>>();

  constructor(private readonly pool: WorkerPool) {}

  /** The plan of `flow` answering `channel` of `team` in `env`, and each node id's index in it. */
  get(runtime: TenantRuntime, env: string, team: string, channel: string, flow: Flow): { plan: PlannedTurn; index: ReadonlyMap<string, number> } {
    let byScope = this.#plans.get(flow);
    if (!byScope) {
      byScope = new Map();
      this.#plans.set(flow, byScope);
    }
    const key = `${env}/${team}/${channel}`;
    let got = byScope.get(key);
    if (!got) {
      got = this.#make(runtime, env, team, channel, flow);
      byScope.set(key, got);
    }
    return got;
  }

  #make(runtime: TenantRuntime, env: string, team: string, channel: string, flow: Flow): { plan: PlannedTurn; index: ReadonlyMap<string, number> } {
    const ids = [...flow.nodes.keys()];
    const index = new Map(ids.map((id, i) => [id, i]));
    const teamChannels = [...runtime.model.teams.get(team)!.channels.keys()];
    const components = ids.map((id) => runtime.componentFor(env, flow.nodes.get(id)!.type)!);
    const permissions = ids.map((id) => runtime.permissions(env, flow.nodes.get(id)!.component));
    const nodes: PlanNode[] = ids.map((id, i) => {
      const node = flow.nodes.get(id)!;
      const p = permissions[i]!;
      return {
        id,
        type: node.type,
        moduleKey: components[i]!.key,
        config: node.configJson,
        wasi: [...p.wasi],
        scope: {
          channel,
          teamChannels,
          flow: flow.name,
          node: id,
          component: p.component,
          state: p.state,
          messaging: p.messaging,
          log: p.log,
          limits: p.limits,
        },
        next: node.next === undefined ? -1 : index.get(node.next)!,
        routes: [...node.routes].map(([label, to]) => [label, index.get(to)!] as [string, number]),
      };
    });
    const tenant = runtime.model.id;
    const wire: TurnPlan = {
      tenantId: tenant,
      envId: env,
      teamId: team,
      channel,
      flow: flow.name,
      maxSteps: runtime.model.envs.get(env)!.settings.limits.maxSteps,
      sessionBase: { tenant, env, team },
      nodes,
      single: false,
    };
    return { plan: this.pool.plan(wire, components, permissions, new Set(teamChannels)), index };
  }
}
