import { join } from 'node:path';
import type { ComponentCatalog, ComponentEntry } from '../components/catalog.js';
import type { GreenticManifestInfo } from '../greentic/manifest.js';
import { listFiles } from '../tenancy/config/load.js';
import { joinPath, zodProblems, type ConfigProblem } from '../tenancy/config/problems.js';
import { displayPath, readYamlFile } from '../tenancy/config/yaml-file.js';
import { componentDenial, tenantDenial, ungrantedRequests } from '../tenancy/grants.js';
import type { TenantModel } from '../tenancy/model.js';
import { channelFlow, type ChannelFlow } from './channel-flows.js';
import { loadYgtcFlow } from '../greentic/ygtc/ygtc-flow.js';
import { packFlows } from './pack-flows.js';
import { FlowSchema } from './schema.js';

export interface FlowNode {
  readonly id: string;
  readonly type: string;
  readonly component: ComponentEntry;
  /** The node's config, serialised once for every call. */
  readonly configJson: string;
  readonly next: string | undefined;
  /** Route label -> node id. */
  readonly routes: ReadonlyMap<string, string>;
}

export interface Flow {
  readonly name: string;
  readonly version: string;
  readonly file: string;
  readonly start: string;
  /** The node a conversation starts at after the user's session expired. */
  readonly onExpired: string;
  readonly nodes: ReadonlyMap<string, FlowNode>;
}

/** A tenant's flows that loaded, the flow each channel runs, and why each channel that cannot run is unavailable. */
export interface TenantFlows {
  readonly flows: ReadonlyMap<string, Flow>;
  /** "team/channel" -> the flow it runs (named, or by the default rule) and the rule. */
  readonly channelFlows: ReadonlyMap<string, ChannelFlow>;
  /** "team/channel" -> reason, for channels whose flow did not load or may not run there. */
  readonly unavailable: ReadonlyMap<string, string>;
  readonly problems: readonly ConfigProblem[];
}

/**
 * Load and check every flow in tenants/<id>/flows/. A broken flow is left out with its
 * problems; the tenant's other flows, and every other tenant, are unaffected.
 */
export async function loadTenantFlows(tenant: TenantModel, catalog: ComponentCatalog): Promise<TenantFlows> {
  const problems: ConfigProblem[] = [];
  const flows = new Map<string, Flow>();
  const dir = join(tenant.dir, 'flows');
  const files = await listFiles(dir, '.yaml');
  for (const name of files) {
    const file = join(dir, name);
    try {
      const flow = await loadFlow(file, name.slice(0, -'.yaml'.length), tenant, catalog, problems);
      if (flow) flows.set(flow.name, flow);
    } catch (e) {
      // One broken flow is a problem of its own, never the end of the tenant (or the host).
      problems.push({ file: displayPath(file), path: '', message: `flow failed to load: ${e instanceof Error ? e.message : String(e)}`, tenant: tenant.id });
    }
  }

  // Greentic's .ygtc flows, named by their id; a broken one counts by its file's name, so a channel
  // it would serve reports it broken rather than silently running another.
  const otherFlowNames: string[] = [];
  for (const name of await listFiles(dir, '.ygtc')) {
    const file = join(dir, name);
    const before = problems.length;
    try {
      const flow = await loadYgtcFlow(file, tenant, catalog, problems);
      if (flow && (flows.has(flow.name) || otherFlowNames.includes(flow.name))) {
        problems.push({ file: flow.file, path: 'id', message: `flow "${flow.name}" is defined by another file of this tenant too; keep one`, tenant: tenant.id });
      } else if (flow) {
        flows.set(flow.name, flow);
        otherFlowNames.push(flow.name);
      } else if (problems.length > before) otherFlowNames.push(name.slice(0, -'.ygtc'.length));
    } catch (e) {
      problems.push({ file: displayPath(file), path: '', message: `flow failed to load: ${e instanceof Error ? e.message : String(e)}`, tenant: tenant.id });
    }
  }

  // A pack's flows are the tenant's too; a name a flow file already has is the file's.
  for (const flow of packFlows(tenant, catalog, problems)) {
    if (flows.has(flow.name) || files.includes(`${flow.name}.yaml`) || otherFlowNames.includes(flow.name)) {
      problems.push({ file: flow.file, path: '', message: `flow "${flow.name}" is also a flow file of this tenant; the file's is kept`, tenant: tenant.id });
      continue;
    }
    flows.set(flow.name, flow);
    otherFlowNames.push(flow.name);
  }

  // Every channel must be bound to a flow of its own tenant whose components its team may use.
  const unavailable = new Map<string, string>();
  const channelFlows = new Map<string, ChannelFlow>();
  const flowFiles = [...files.map((f) => f.slice(0, -'.yaml'.length)), ...otherFlowNames];
  for (const team of tenant.teams.values()) {
    for (const channel of team.channels.values()) {
      const at = joinPath([...(channel.path ? [channel.path] : []), 'flow']);
      const bound = channelFlow(tenant, channel, flowFiles);
      if (typeof bound === 'string') {
        problems.push({ file: channel.file, path: at, message: bound, tenant: tenant.id });
        unavailable.set(`${team.id}/${channel.id}`, bound);
        continue;
      }
      channelFlows.set(`${team.id}/${channel.id}`, bound);
      const flow = flows.get(bound.flow);
      if (!flow) {
        const reason = problems.some((p) => p.file === displayPath(join(dir, `${bound.flow}.yaml`)))
          ? `flow "${bound.flow}" did not load (see its problems)`
          : `tenant "${tenant.id}" has no flow "${bound.flow}" (expected ${displayPath(join(dir, `${bound.flow}.yaml`))})`;
        if (!reason.startsWith('flow "')) problems.push({ file: channel.file, path: at, message: reason, tenant: tenant.id });
        unavailable.set(`${team.id}/${channel.id}`, reason);
        continue;
      }
      for (const node of flow.nodes.values()) {
        const denial = componentDenial(tenant, team.id, node.type);
        if (denial) {
          problems.push({
            file: flow.file,
            path: `nodes.${node.id}.type`,
            message: `${denial}, but channel ${team.id}/${channel.id} runs this flow`,
            tenant: tenant.id,
          });
          unavailable.set(`${team.id}/${channel.id}`, denial);
        }
      }
    }
  }
  return { flows, channelFlows, unavailable, problems };
}

/**
 * A Greentic component's node config: `op` must name one of the operations its manifest lists
 * (when it lists any); without one, the manifest's default_operation is written in, else the
 * worker takes the first op its describe() returns.
 */
function greenticConfig(g: GreenticManifestInfo, type: string, config: Record<string, unknown>, problem: (message: string) => void): Record<string, unknown> {
  const op = config.op;
  if (op === undefined) return g.defaultOperation === undefined ? config : { op: g.defaultOperation, ...config };
  if (typeof op !== 'string' || op === '') problem("must be the name of one of the component's operations");
  else if (g.operations.length > 0 && !g.operations.includes(op))
    problem(`component "${type}" has no operation "${op}" (its manifest lists: ${g.operations.join(', ')})`);
  return config;
}

async function loadFlow(file: string, base: string, tenant: TenantModel, catalog: ComponentCatalog, problems: ConfigProblem[]): Promise<Flow | null> {
  const shown = displayPath(file);
  const before = problems.length;
  const doc = await readYamlFile(file, tenant.id, tenant.folder);
  if (!doc.ok) {
    problems.push(...doc.problems);
    return null;
  }
  const parsed = FlowSchema.safeParse(doc.data);
  if (!parsed.success) {
    problems.push(...zodProblems(shown, parsed.error.issues, [], tenant.id));
    return null;
  }
  const def = parsed.data;
  const problem = (path: string, message: string) => problems.push({ file: shown, path, message, tenant: tenant.id });
  if (def.name !== base) problem('name', `says "${def.name}" but the file is flows/${base}.yaml`);

  const ids = new Set<string>();
  def.nodes.forEach((n, i) => {
    if (ids.has(n.id)) problem(`nodes[${i}].id`, `node "${n.id}" is defined twice`);
    ids.add(n.id);
  });
  // Without `start`, a flow starts at its first node (as the spec's flows do).
  const start = def.start ?? def.nodes[0]!.id;
  if (!ids.has(start)) problem('start', `no node "${start}" in this flow`);
  if (def.on_expired !== undefined && !ids.has(def.on_expired)) problem('on_expired', `no node "${def.on_expired}" in this flow`);

  const nodes = new Map<string, FlowNode>();
  def.nodes.forEach((n, i) => {
    const at = `nodes[${i}]`;
    if (n.next !== undefined && !ids.has(n.next)) problem(`${at}.next`, `no node "${n.next}" in this flow`);
    const routes = new Map<string, string>();
    n.routes?.forEach((r, j) => {
      if (!ids.has(r.to)) problem(`${at}.routes[${j}].to`, `no node "${r.to}" in this flow`);
      if (routes.has(r.when)) problem(`${at}.routes[${j}].when`, `route "${r.when}" is listed twice`);
      routes.set(r.when, r.to);
    });
    const component = catalog.resolve(tenant.id, n.type);
    if (!component) {
      problem(`${at}.type`, `unknown component type "${n.type}" (tenant "${tenant.id}" can use: ${catalog.typesFor(tenant.id).join(', ') || 'none'})`);
      return;
    }
    const denial = tenantDenial(tenant, n.type);
    if (denial) {
      problem(`${at}.type`, denial);
      return;
    }
    for (const missing of ungrantedRequests(tenant, component.manifest, component.greentic?.capabilitiesDeclared === false)) {
      problem(`${at}.type`, `component "${n.type}" needs ${missing}, which tenant "${tenant.id}" does not grant`);
    }
    let config = n.config ?? {};
    if (component.greentic) config = greenticConfig(component.greentic, n.type, config, (m) => problem(`${at}.config.op`, m));
    if (component.configSchema) {
      const check = component.configSchema.safeParse(config);
      if (!check.success) problems.push(...zodProblems(shown, check.error.issues, ['nodes', i, 'config'], tenant.id));
    }
    nodes.set(n.id, { id: n.id, type: n.type, component, configJson: JSON.stringify(config), next: n.next, routes });
  });

  if (problems.length > before) return null;
  return { name: def.name, version: def.version, file: shown, start, onExpired: def.on_expired ?? start, nodes };
}
