import { join } from 'node:path';
import type { z } from 'zod';
import type { ComponentCatalog, ComponentEntry } from '../components/catalog.js';
import type { GreenticManifestInfo } from '../greentic/manifest.js';
import { listFiles } from '../tenancy/config/load.js';
import { joinPath, zodProblems, type ConfigProblem } from '../tenancy/config/problems.js';
import { closest, didYouMean } from '../tenancy/config/suggest.js';
import { displayPath, readYamlFile } from '../tenancy/config/yaml-file.js';
import { componentDenial, tenantDenial, ungrantedRequests } from '../tenancy/grants.js';
import { isValidId } from '../tenancy/ids.js';
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
  const misspelt = grantProblems(tenant, catalog, problems);
  const flows = new Map<string, Flow>();
  /** Flow files that did not load (their problems say why): a channel running one is not told "no such flow". */
  const broken = new Set<string>();
  const dir = join(tenant.dir, 'flows');
  const files = await listFiles(dir, '.yaml');
  for (const name of files) {
    const file = join(dir, name);
    try {
      const flow = await loadFlow(file, name.slice(0, -'.yaml'.length), tenant, catalog, problems, misspelt);
      if (flow) flows.set(flow.name, flow);
      else broken.add(name.slice(0, -'.yaml'.length));
    } catch (e) {
      broken.add(name.slice(0, -'.yaml'.length));
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
        problems.push({
          file: flow.file,
          path: 'id',
          message: `flow "${flow.name}" is defined by another file of this tenant too; keep one`,
          tenant: tenant.id,
        });
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
        const reason = broken.has(bound.flow)
          ? `flow "${bound.flow}" did not load (see its problems)`
          : `tenant "${tenant.id}" has no flow "${bound.flow}"${didYouMean(bound.flow, flowFiles) || ` (expected ${displayPath(join(dir, `${bound.flow}.yaml`))})`}`;
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

async function loadFlow(
  file: string,
  base: string,
  tenant: TenantModel,
  catalog: ComponentCatalog,
  problems: ConfigProblem[],
  misspeltGrants: ReadonlySet<string>,
): Promise<Flow | null> {
  const shown = displayPath(file);
  const before = problems.length;
  const doc = await readYamlFile(file, tenant.id, tenant.folder);
  if (!doc.ok) {
    problems.push(...doc.problems);
    return null;
  }
  const parsed = FlowSchema.safeParse(doc.data);
  if (!parsed.success) {
    problems.push(...zodProblems(shown, byNodeId(parsed.error.issues, doc.data), [], tenant.id));
    return null;
  }
  const def = parsed.data;
  const problem = (path: string, message: string) => problems.push({ file: shown, path, message, tenant: tenant.id });
  if (def.name !== base) problem('name', `says "${def.name}" but the file is flows/${base}.yaml`);

  const ids = new Set<string>();
  const twice = new Set<string>();
  def.nodes.forEach((n, i) => {
    if (ids.has(n.id)) {
      problem(`nodes[${i}].id`, `node "${n.id}" is defined twice`);
      twice.add(n.id);
    }
    ids.add(n.id);
  });
  // A node is named by its id, as the flow names it (nodes.triage.next); by index only when its id is not unique.
  const nodeAt = (i: number) => (twice.has(def.nodes[i]!.id) ? `nodes[${i}]` : `nodes.${def.nodes[i]!.id}`);
  const noNode = (id: string) => `no node "${id}" in this flow${didYouMean(id, ids)}`;
  // Without `start`, a flow starts at its first node (as the spec's flows do).
  const start = def.start ?? def.nodes[0]!.id;
  if (!ids.has(start)) problem('start', noNode(start));
  if (def.on_expired !== undefined && !ids.has(def.on_expired)) problem('on_expired', noNode(def.on_expired));

  // One grant missing is one problem: later nodes of the same type only add their names to it.
  const denied = new Map<string, { problem: ConfigProblem; also: string[] }>();
  let refused = false;
  const nodes = new Map<string, FlowNode>();
  def.nodes.forEach((n, i) => {
    const at = nodeAt(i);
    if (n.next !== undefined && !ids.has(n.next)) problem(`${at}.next`, noNode(n.next));
    const routes = new Map<string, string>();
    n.routes?.forEach((r, j) => {
      if (!ids.has(r.to)) problem(`${at}.routes[${j}].to`, noNode(r.to));
      if (routes.has(r.when)) problem(`${at}.routes[${j}].when`, `route "${r.when}" is listed twice`);
      routes.set(r.when, r.to);
    });
    const component = catalog.resolve(tenant.id, n.type);
    if (!component) {
      const types = catalog.typesFor(tenant.id);
      const near = didYouMean(n.type, types);
      problem(`${at}.type`, `unknown component type "${n.type}"${near || ` (tenant "${tenant.id}" can use: ${types.join(', ') || 'none'})`}`);
      return;
    }
    const denial = tenantDenial(tenant, n.type);
    if (denial) {
      refused = true;
      // A misspelt grant was reported as the root cause (grantProblems): this is its echo.
      if (misspeltGrants.has(n.type)) return;
      const seen = denied.get(denial);
      if (seen) seen.also.push(n.id);
      else {
        const p: ConfigProblem = { file: shown, path: `${at}.type`, message: denial, tenant: tenant.id };
        denied.set(denial, { problem: p, also: [] });
        problems.push(p);
      }
      return;
    }
    for (const missing of ungrantedRequests(tenant, component.manifest, component.greentic?.capabilitiesDeclared === false)) {
      problem(`${at}.type`, `component "${n.type}" needs ${missing}, which tenant "${tenant.id}" does not grant`);
    }
    let config = n.config ?? {};
    if (component.greentic) config = greenticConfig(component.greentic, n.type, config, (m) => problem(`${at}.config.op`, m));
    if (component.configSchema) {
      const check = component.configSchema.safeParse(config);
      if (!check.success)
        problems.push(...zodProblems(shown, check.error.issues, [...(twice.has(n.id) ? ['nodes', i] : ['nodes', n.id]), 'config'], tenant.id));
    }
    nodes.set(n.id, { id: n.id, type: n.type, component, configJson: JSON.stringify(config), next: n.next, routes });
  });

  for (const { problem: p, also } of denied.values()) {
    if (also.length > 0) Object.assign(p, { message: `${p.message}; nodes ${also.join(', ')} use it too` });
  }
  if (refused || problems.length > before) return null;
  return { name: def.name, version: def.version, file: shown, start, onExpired: def.on_expired ?? start, nodes };
}

/**
 * A grant naming a component the tenant does not have, close to one it does (grants.components.replyy):
 * one problem at the grant, with the hint. Returns the types those grants were meant for, whose
 * "not granted" echoes in the flows are then left out (root cause once).
 */
function grantProblems(tenant: TenantModel, catalog: ComponentCatalog, problems: ConfigProblem[]): Set<string> {
  const types = catalog.typesFor(tenant.id);
  const meant = new Set<string>();
  for (const name of tenant.grants.components.keys()) {
    if (types.includes(name)) continue;
    const near = closest(name, types);
    if (near === undefined || tenant.grants.components.has(near)) continue;
    problems.push({
      file: tenant.file,
      path: joinPath([...(tenant.path ? [tenant.path] : []), 'grants', 'components', name]),
      message: `no component "${name}" (did you mean "${near}"?)`,
      tenant: tenant.id,
    });
    meant.add(near);
  }
  return meant;
}

/** Zod's issue paths with a node's index replaced by its id where the raw flow has a unique valid one (nodes.greet.type). */
function byNodeId(issues: readonly z.core.$ZodIssue[], raw: unknown): z.core.$ZodIssue[] {
  const list = typeof raw === 'object' && raw !== null && Array.isArray((raw as { nodes?: unknown }).nodes) ? (raw as { nodes: unknown[] }).nodes : [];
  const ids = list.map((n) => (typeof n === 'object' && n !== null && typeof (n as { id?: unknown }).id === 'string' ? (n as { id: string }).id : undefined));
  const named = (i: number) => {
    const id = ids[i];
    return id !== undefined && isValidId(id) && ids.indexOf(id) === ids.lastIndexOf(id) ? id : undefined;
  };
  return issues.map((issue) => {
    const [head, index, ...rest] = issue.path;
    if (head !== 'nodes' || typeof index !== 'number') return issue;
    const id = named(index);
    return id === undefined ? issue : ({ ...issue, path: ['nodes', id, ...rest] } as z.core.$ZodIssue);
  });
}
