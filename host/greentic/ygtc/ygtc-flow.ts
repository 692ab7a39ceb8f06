import type { z } from 'zod';
import type { ComponentCatalog } from '../../components/catalog.js';
import type { Flow, FlowNode } from '../../flow/loader.js';
import { joinPath, zodProblems, type ConfigProblem } from '../../tenancy/config/problems.js';
import { displayPath, readYamlFile } from '../../tenancy/config/yaml-file.js';
import { tenantDenial, ungrantedRequests } from '../../tenancy/grants.js';
import { isValidId, whyInvalid } from '../../tenancy/ids.js';
import type { TenantModel } from '../../tenancy/model.js';
import { InputMapping, MappingSyntaxError } from '../input-mapping.js';
import { ComponentExecSchema, EmitResponseSchema, QaProcessSchema, RoutingSchema, TemplatingSchema, YGTC_OPERATIONS, YgtcFlowSchema } from './schema.js';
import { checkTemplate } from './template-check.js';

/**
 * A `.ygtc` flow mapped onto the host's node contract: `component.exec` is a call of the
 * tenant's component (its op and input mapping as a Greentic node's config),
 * `templating.handlebars` and `emit.response` the built-in `handlebars` component,
 * `qa.process` its welcome (a `handlebars` node) and one built-in `ask` per question (the
 * answer saved in state under the question's id). Every problem names the file and the path.
 */

/** One node the mapping plans, before its component is resolved and checked. */
interface Planned {
  readonly id: string;
  readonly type: string;
  readonly config: Record<string, unknown>;
  next: string | undefined;
  readonly at: string;
}

/** Load `file` (tenants/<id>/flows/NAME.ygtc) as a flow of `tenant`; null with problems when it cannot run here. */
export async function loadYgtcFlow(file: string, tenant: TenantModel, catalog: ComponentCatalog, problems: ConfigProblem[]): Promise<Flow | null> {
  const shown = displayPath(file);
  const before = problems.length;
  const problem = (path: string, message: string) => problems.push({ file: shown, path, message, tenant: tenant.id });
  const doc = await readYamlFile(file, tenant.id, tenant.folder);
  if (!doc.ok) {
    problems.push(...doc.problems);
    return null;
  }
  const parsed = YgtcFlowSchema.safeParse(doc.data);
  if (!parsed.success) {
    problems.push(...zodProblems(shown, parsed.error.issues, [], tenant.id));
    return null;
  }
  const def = parsed.data;
  if (!isValidId(def.id)) problem('id', `invalid flow id ${JSON.stringify(def.id)}: ${whyInvalid('flow', def.id)}`);
  if (def.type !== 'messaging') problem('type', `a "${def.type}" flow is not a conversation; this host runs "messaging" flows`);
  if (problems.length > before) return null;

  const parameters = def.parameters ?? {};
  const planned: Planned[] = [];
  const ids = Object.keys(def.nodes);
  const taken = new Set(ids);
  for (const id of ids) {
    const at = joinPath(['nodes', id]);
    if (!isValidId(id)) {
      problem(at, `invalid node id ${JSON.stringify(id)}: ${whyInvalid('node', id)}`);
      continue;
    }
    const node = def.nodes[id]!;
    const { routing, operation: nodeOperation, ...ops } = node;
    const keys = Object.keys(ops);
    if (keys.length !== 1) {
      problem(
        at,
        keys.length === 0
          ? 'a node has one operation key (component.exec, templating.handlebars, ...)'
          : `a node has one operation key, this one has ${keys.join(', ')}`,
      );
      continue;
    }
    const op = keys[0]!;
    const route = RoutingSchema.safeParse(routing ?? 'out');
    let next: string | undefined;
    if (Array.isArray(routing) && routing.length > 1) problem(`${at}.routing`, 'one route per node: this host has no conditional routing in .ygtc flows');
    else if (!route.success) problems.push(...zodProblems(shown, route.error.issues, ['nodes', id, 'routing'], tenant.id));
    else if (Array.isArray(route.data) && route.data[0] && !('out' in route.data[0])) {
      next = 'to' in route.data[0] ? route.data[0].to : route.data[0].next;
      if (!taken.has(next)) problem(`${at}.routing[0]`, `no node "${next}" in this flow`);
    }
    if (nodeOperation !== undefined && op !== 'component.exec') problem(`${at}.operation`, 'unknown key (operation goes with component.exec)');
    const payload = ops[op];
    const where = `${at}.${op}`;
    const nodes = mapOperation(op, payload, nodeOperation, { id, at: where, next, parameters, taken, shown, tenant: tenant.id, problems });
    if (nodes) planned.push(...nodes);
  }
  if (problems.length > before) return null;

  const nodes = new Map<string, FlowNode>();
  for (const p of planned) {
    const component = catalog.resolve(tenant.id, p.type);
    if (!component) {
      problem(p.at, `unknown component type "${p.type}" (tenant "${tenant.id}" can use: ${catalog.typesFor(tenant.id).join(', ') || 'none'})`);
      continue;
    }
    const denial = tenantDenial(tenant, p.type);
    if (denial) {
      problem(p.at, denial);
      continue;
    }
    for (const missing of ungrantedRequests(tenant, component.manifest, component.greentic?.capabilitiesDeclared === false)) {
      problem(p.at, `component "${p.type}" needs ${missing}, which tenant "${tenant.id}" does not grant`);
    }
    const g = component.greentic;
    const op = p.config.op;
    if (g && typeof op === 'string' && g.operations.length > 0 && !g.operations.includes(op)) {
      problem(`${p.at}.operation`, `component "${p.type}" has no operation "${op}" (its manifest lists: ${g.operations.join(', ')})`);
    }
    if (component.configSchema) {
      const check = component.configSchema.safeParse(p.config);
      if (!check.success) problems.push(...zodProblems(shown, check.error.issues, [p.at], tenant.id));
    }
    nodes.set(p.id, { id: p.id, type: p.type, component, configJson: JSON.stringify(p.config), next: p.next, routes: new Map() });
  }
  if (problems.length > before) return null;
  const start = def.start ?? def.entrypoints?.default ?? ids[0]!;
  if (!nodes.has(start)) {
    problem(def.start !== undefined ? 'start' : 'entrypoints.default', `no node "${start}" in this flow`);
    return null;
  }
  return { name: def.id, version: String(def.schema_version ?? 2), file: shown, start, onExpired: start, nodes };
}

interface MapContext {
  readonly id: string;
  readonly at: string;
  readonly next: string | undefined;
  readonly parameters: Record<string, unknown>;
  readonly taken: Set<string>;
  readonly shown: string;
  readonly tenant: string;
  readonly problems: ConfigProblem[];
}

/** The host nodes one .ygtc operation becomes (the first keeps the node's id, the last its routing), or null with problems. */
function mapOperation(op: string, payload: unknown, nodeOperation: unknown, c: MapContext): Planned[] | null {
  const problem = (path: string, message: string) => c.problems.push({ file: c.shown, path, message, tenant: c.tenant });
  const shape = <T>(schema: z.ZodType<T>): T | null => {
    const r = schema.safeParse(payload);
    if (r.success) return r.data;
    c.problems.push(...zodProblems(c.shown, r.error.issues, [c.at], c.tenant));
    return null;
  };
  const template = (text: string, at: string, id: string, next: string | undefined): Planned | null => {
    const checked = checkTemplate(text);
    if (!checked.ok) {
      problem(at, checked.why);
      return null;
    }
    return { id, type: 'handlebars', config: { template: text, parameters: c.parameters, state: checked.stateKeys }, next, at };
  };
  if (op === 'templating.handlebars' || op === 'emit.response') {
    const p = shape(op === 'emit.response' ? EmitResponseSchema : TemplatingSchema);
    const node = p && template(p.text, `${c.at}.text`, c.id, c.next);
    return node ? [node] : null;
  }
  if (op === 'qa.process') {
    const p = shape(QaProcessSchema);
    if (!p) return null;
    const out: Planned[] = [];
    if (p.welcome !== undefined) {
      const w = template(p.welcome, `${c.at}.welcome`, c.id, undefined);
      if (!w) return null;
      out.push(w);
    }
    for (const [i, q] of (p.questions ?? []).entries()) {
      const qat = `${c.at}.questions[${i}]`;
      if (!isValidId(q.id)) {
        problem(`${qat}.id`, `the answer is saved in state under the question's id: ${whyInvalid('state key', q.id)}`);
        return null;
      }
      const id = out.length === 0 ? c.id : `${c.id}-${q.id}`;
      if (out.length > 0 && (c.taken.has(id) || !isValidId(id))) {
        problem(
          `${qat}.id`,
          `the question's node would be "${id}", which is ${c.taken.has(id) ? 'another node of this flow' : 'not an id'}; rename the node or the question`,
        );
        return null;
      }
      c.taken.add(id);
      out.push({ id, type: 'ask', config: { question: q.prompt, save_as: q.id }, next: undefined, at: qat });
    }
    if (out.length === 0) {
      problem(c.at, 'qa.process has neither a welcome nor questions');
      return null;
    }
    out.forEach((n, i) => (n.next = out[i + 1]?.id ?? c.next));
    return out;
  }
  if (op === 'component.exec') {
    const p = shape(ComponentExecSchema);
    if (!p) return null;
    const { component, operation, input, ...rest } = p;
    const opName = typeof nodeOperation === 'string' ? nodeOperation : operation;
    if (!isValidId(component)) {
      problem(`${c.at}.component`, `invalid component type ${JSON.stringify(component)}: ${whyInvalid('component', component)}`);
      return null;
    }
    if (input !== undefined) {
      try {
        InputMapping.parse(input);
      } catch (e) {
        if (!(e instanceof MappingSyntaxError)) throw e;
        problem(`${c.at}.input${e.path}`, e.why);
        return null;
      }
    }
    const config = { ...rest, ...(opName === undefined ? {} : { op: opName }), ...(input === undefined ? {} : { input }) };
    return [{ id: c.id, type: component, config, next: c.next, at: c.at }];
  }
  problem(c.at.slice(0, c.at.length - op.length - 1), `operation "${op.slice(0, 80)}" is not one greentic-host runs (it runs ${YGTC_OPERATIONS.join(', ')})`);
  return null;
}
