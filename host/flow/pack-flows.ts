import type { ComponentCatalog } from '../components/catalog.js';
import { InputMapping, MappingSyntaxError } from '../greentic/input-mapping.js';
import type { TenantPack } from '../greentic/pack/tenant-packs.js';
import { zodProblems, type ConfigProblem } from '../tenancy/config/problems.js';
import { tenantDenial, ungrantedRequests } from '../tenancy/grants.js';
import { isValidId, whyInvalid } from '../tenancy/ids.js';
import type { TenantModel } from '../tenancy/model.js';
import type { Flow, FlowNode } from './loader.js';

/**
 * The compiled flows (flow-v1) of a tenant's packs as the host's flows: each node a call of the
 * pack's component under the tenant's type name for it, its op and its input mapping as a
 * Greentic node's config, its routing as `next`. Checked as a YAML flow is: the component must be
 * granted, what it asks for granted too, the op one it lists, the mapping one that parses.
 */
export function packFlows(tenant: TenantModel, catalog: ComponentCatalog, problems: ConfigProblem[]): Flow[] {
  const flows: Flow[] = [];
  for (const pack of catalog.packsOf(tenant.id)) {
    pack.flows.forEach((f, i) => {
      const flow = packFlow(tenant, catalog, pack, i, problems);
      if (flow) flows.push(flow);
    });
  }
  return flows;
}

function packFlow(tenant: TenantModel, catalog: ComponentCatalog, pack: TenantPack, index: number, problems: ConfigProblem[]): Flow | null {
  const f = pack.flows[index]!;
  const before = problems.length;
  const at = `manifest.cbor: flows[${index}]`;
  const problem = (path: string, message: string) => problems.push({ file: pack.file, path: `${at}${path}`, message, tenant: tenant.id });
  if (!isValidId(f.id)) {
    problem('.id', `flow ${JSON.stringify(String(f.id).slice(0, 80))} cannot be a flow of tenant "${tenant.id}": ${whyInvalid('flow', f.id)}`);
    return null;
  }
  if (f.nodes.length === 0) {
    problem('.flow.nodes', `flow "${f.id}" has no nodes; left out`);
    return null;
  }
  const nodes = new Map<string, FlowNode>();
  f.nodes.forEach((n, j) => {
    const nat = `.flow.nodes[${j}]`;
    const type = pack.types.get(n.component);
    if (type === undefined) {
      problem(`${nat}.component`, pack.unusable.get(n.component) ?? `component "${n.component}" did not load`);
      return;
    }
    const component = catalog.resolve(tenant.id, type)!;
    const denial = tenantDenial(tenant, type);
    if (denial) {
      problem(`${nat}.component`, `${denial} (pack component "${n.component}")`);
      return;
    }
    for (const missing of ungrantedRequests(tenant, component.manifest, component.greentic?.capabilitiesDeclared === false)) {
      problem(`${nat}.component`, `component "${type}" needs ${missing}, which tenant "${tenant.id}" does not grant`);
    }
    const g = component.greentic;
    const op = n.operation ?? g?.defaultOperation;
    if (op !== undefined && g && g.operations.length > 0 && !g.operations.includes(op)) {
      problem(`${nat}.component.operation`, `component "${type}" has no operation "${op}" (its manifest lists: ${g.operations.join(', ')})`);
    }
    if (n.mapping !== undefined) {
      try {
        InputMapping.parse(n.mapping);
      } catch (e) {
        if (!(e instanceof MappingSyntaxError)) throw e;
        problem(`${nat}.input.mapping${e.path}`, e.why);
      }
    }
    const config: Record<string, unknown> = { ...(op === undefined ? {} : { op }), ...(n.mapping === undefined ? {} : { input: n.mapping }) };
    if (component.configSchema) {
      const check = component.configSchema.safeParse(config);
      if (!check.success) problems.push(...zodProblems(pack.file, check.error.issues, [`${at}${nat}`, 'config'], tenant.id));
    }
    nodes.set(n.id, { id: n.id, type, component, configJson: JSON.stringify(config), next: n.next, routes: new Map() });
  });
  if (problems.length > before) return null;
  const start = f.entrypoints.get('default') ?? f.entrypoints.values().next().value ?? f.nodes[0]!.id;
  return { name: f.id, version: pack.version, file: pack.file, start, onExpired: start, nodes };
}
