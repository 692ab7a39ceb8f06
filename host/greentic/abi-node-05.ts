/**
 * greentic:component/node@0.5.x, the JSON contract every messaging pack's provision, questions,
 * diagnostics and setup steps use: `get-manifest() -> json`, `on-start(exec-ctx)`,
 * `invoke(exec-ctx, op, json) -> invoke-result` (ok(json) | err(node-error)). The exec-ctx's
 * tenant record is Greentic's shared tenant-ctx (greentic:interfaces-types) in the published
 * binaries and node@0.5's own smaller record in its WIT: the host fills both sets of fields,
 * from the bound ctx only, and jco lowers the ones the component declares.
 */
import type { ValueBudget } from '../sandbox/value-budget.js';
import type { AbiCall, AbiOutcome, GreenticAbiAdapter } from './abi.js';
import type { ComponentDescriptor, OpDescriptor } from './contract.js';
import { derivedDescriptor, derivedOp, textField } from './derived-descriptor.js';
import { parseGuestJson } from './decode.js';
import { greenticCtx } from './envelope.js';
import { GreenticNodeError } from './output.js';

interface Node05Export {
  getManifest(): string;
  onStart?(ctx: unknown): unknown;
  invoke(ctx: unknown, op: string, input: string): { tag: 'ok'; val: string } | { tag: 'err'; val: { code: string; message: string; retryable: boolean } };
}

/** Most ops a get-manifest may list that the host takes into a descriptor. */
const MAX_LISTED_OPS = 256;

export class Node05Adapter implements GreenticAbiAdapter {
  readonly abi = 'node-0.5' as const;
  #described: ReturnType<GreenticAbiAdapter['describe']> | undefined;
  #started = false;

  constructor(
    private readonly node: Node05Export,
    private readonly name: string,
    private readonly budget: () => ValueBudget,
  ) {}

  static usable(node: unknown): node is Node05Export {
    const n = node as Partial<Node05Export> | null;
    return typeof n === 'object' && n !== null && typeof n.invoke === 'function' && typeof n.getManifest === 'function';
  }

  describe(): ReturnType<GreenticAbiAdapter['describe']> {
    if (!this.#described) {
      const manifest = parseGuestJson(this.node.getManifest(), this.budget(), `component "${this.name}" (get-manifest)`);
      this.#described = describedFromManifest(this.name, manifest);
    }
    return this.#described;
  }

  invoke(call: AbiCall): AbiOutcome {
    const ctx = execCtx(call);
    const where = `component "${call.info.component}" (op "${call.op}")`;
    if (!this.#started && typeof this.node.onStart === 'function') {
      // on-start runs once per instance, with the first call's ctx (an instance serves one tenant and environment).
      const started = this.node.onStart(ctx) as { tag?: string; val?: unknown } | string | undefined;
      if (typeof started === 'object' && started?.tag === 'err')
        throw new GreenticNodeError('start-failed', `${where}: on-start failed: ${String(started.val)}`);
      this.#started = true;
    }
    const result = this.node.invoke(ctx, call.op, JSON.stringify(call.payload ?? null));
    if (result.tag === 'err') {
      const e = result.val;
      throw new GreenticNodeError(e.code || 'invocation-failed', e.message || `${where} failed`, e.retryable === true);
    }
    return { ok: true, output: parseGuestJson(result.val, this.budget(), where), encoding: 'json' };
  }
}

/** exec-ctx of node@0.5, its tenant record carrying both shapes' fields. */
function execCtx(call: AbiCall): unknown {
  const g = greenticCtx(call.ctx, call.info, call.step);
  const c = call.ctx;
  return {
    tenant: {
      // greentic:interfaces-types/types@0.1.0 tenant-ctx
      env: c.envId,
      tenant: c.tenantId,
      tenantId: c.tenantId,
      team: c.teamId,
      teamId: c.teamId,
      user: c.userId,
      userId: c.userId,
      traceId: g.traceId,
      i18nId: g.i18nId,
      correlationId: g.correlationId,
      attributes: [],
      sessionId: c.sessionId,
      flowId: call.info.flow,
      nodeId: call.step,
      providerId: undefined,
      deadlineMs: g.deadlineMs,
      attempt: g.attempt,
      idempotencyKey: g.idempotencyKey,
      impersonation: undefined,
      // node@0.5's own tenant-ctx
      deadlineUnixMs: g.deadlineMs,
    },
    i18nId: g.i18nId,
    flowId: call.info.flow,
    nodeId: call.step,
  };
}

/** A descriptor from get-manifest's JSON: its name and version, and the ops it lists, if any. */
function describedFromManifest(name: string, manifest: unknown): ReturnType<GreenticAbiAdapter['describe']> {
  const named = textField(manifest, 'component', 'name') ?? textField(manifest, 'name') ?? name;
  const version = textField(manifest, 'component', 'version') ?? textField(manifest, 'version') ?? '0.0.0';
  const d: ComponentDescriptor = derivedDescriptor(
    named,
    version,
    textField(manifest, 'component', 'description') ?? textField(manifest, 'description') ?? 'node@0.5 component',
  );
  const listed = listedOps(manifest);
  if (listed.length > 0) d.ops = listed;
  return { descriptor: d, derived: true, opsListed: listed.length > 0 };
}

function listedOps(manifest: unknown): OpDescriptor[] {
  if (typeof manifest !== 'object' || manifest === null) return [];
  const m = manifest as Record<string, unknown>;
  const list = Object.hasOwn(m, 'operations') ? m.operations : Object.hasOwn(m, 'ops') ? m.ops : undefined;
  if (!Array.isArray(list)) return [];
  const ops: OpDescriptor[] = [];
  for (const o of list.slice(0, MAX_LISTED_OPS)) {
    const opName = typeof o === 'string' ? o : (textField(o, 'name') ?? textField(o, 'id'));
    if (opName === undefined || ops.some((x) => x.name === opName)) continue;
    const rec = (typeof o === 'object' && o !== null ? o : {}) as Record<string, unknown>;
    ops.push(derivedOp(opName, textField(o, 'summary') ?? textField(o, 'description'), rec.input_schema, rec.output_schema, 'application/json'));
  }
  return ops;
}
