import type { NodeInvocation, NodeOutput } from '../components/node-world.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import type { GreenticAbiAdapter, RunState } from './abi.js';
import { decodeCbor } from './cbor.js';
import { cborItemCount } from './cbor-items.js';
import type { ComponentDescriptor } from './contract.js';
import { DEFAULT_LOCALE, nodePayload, type CallLocale, type GreenticCallInfo } from './envelope.js';
import { InputMapping, MappingLimitError, type MappingScope } from './input-mapping.js';
import type { SchemaChecks } from './op-schema.js';
import { GreenticNodeError, nodeOutputFromValue } from './output.js';

/** What one raw invocation returned (for `greentic-host call`): the output decoded, as the component answered it. */
export interface RawInvocation {
  readonly op: string;
  readonly ok: boolean;
  readonly output: unknown;
  readonly encoding: 'cbor' | 'json';
  readonly metadata: unknown;
}

/** What a node call may read besides its config: the turn so far. */
export interface NodeTurn {
  readonly state: ReadonlyMap<string, string>;
  /** The output of the node that ran before this one in the turn (undefined at the first). */
  readonly prev: unknown;
  /** Outputs of the turn's earlier nodes, by node id. */
  readonly nodes: ReadonlyMap<string, unknown>;
  readonly runState?: RunState;
  /** The manifest's JSON Schema of the op's input, when it declares one. */
  readonly inputSchema?: unknown;
}

/** Items a described schema may have for the host to decode and use it. */
const MAX_SCHEMA_ITEMS = 10_000;
/** Parsed mappings a node instance keeps, by config text. */
const MAX_MAPPINGS = 64;

/**
 * One instance of a Greentic component as the worker runs it, whatever its ABI: the op chosen
 * and checked against what it describes, the op's input built (config.input, or the default
 * payload) and checked against its schema, the call made through the ABI's adapter, and the
 * output mapped onto a flow node's replies and next step. Runs in the guest worker.
 */
export class GreenticNode {
  readonly #schemas = new Map<string, unknown>();
  readonly #mappings = new Map<
    string,
    { op: string | undefined; payloadOf: (scope: MappingScope, locale: CallLocale) => unknown; config: Record<string, unknown> }
  >();

  constructor(
    readonly adapter: GreenticAbiAdapter,
    private readonly schemas: SchemaChecks,
  ) {}

  /** The component's descriptor (its own, or one derived from its exports); computed once per instance. */
  describe(): ComponentDescriptor {
    return this.adapter.describe().descriptor;
  }

  /**
   * Run a flow node: `config.op` (or the first op described); the op's input is `config.input`
   * rendered (input-mapping.ts), else `{ message, config, resumed }`. Returns the node output
   * and the decoded output (for the next node's `prev`).
   */
  invokeNode(ctx: TenantCtx, input: NodeInvocation, call: GreenticCallInfo, turn: NodeTurn): { output: NodeOutput; data: unknown } {
    const m = this.#mapping(input);
    const op = this.#op(m.op, call.component);
    const scope: MappingScope = {
      message: { text: input.message.text, user: input.message.userId, channel: input.message.channel },
      config: m.config,
      state: turn.state,
      prev: turn.prev ?? null,
      nodes: turn.nodes,
      ctx: { tenant: ctx.tenantId, env: ctx.envId, team: ctx.teamId ?? null, user: ctx.userId, session: ctx.sessionId },
      resumed: input.resumed,
    };
    let payload: unknown;
    try {
      payload = m.payloadOf(scope, call.locale ?? DEFAULT_LOCALE);
    } catch (e) {
      if (e instanceof MappingLimitError) throw new GreenticNodeError('limit-exceeded', `node "${input.nodeId}": ${e.message}`);
      throw e;
    }
    const where = `component "${call.component}" (op "${op}")`;
    this.#checkInput(op, payload, turn.inputSchema, where);
    const r = this.adapter.invoke({ op, payload, ctx, info: call, step: input.nodeId, runState: turn.runState });
    return { output: nodeOutputFromValue(r.ok, r.output, where), data: r.output };
  }

  /** Run `op` (or the first op described) on `payload` as it is, and return what came back. */
  invokeRaw(ctx: TenantCtx, requested: string | undefined, payload: unknown, call: GreenticCallInfo, step: string, inputSchema?: unknown): RawInvocation {
    const op = this.#op(requested, call.component);
    this.#checkInput(op, payload, inputSchema, `component "${call.component}" (op "${op}")`);
    const r = this.adapter.invoke({ op, payload, ctx, info: call, step });
    // ok: false inside the output counts as the component's answer, as it does for a flow node.
    const ok = r.ok && !(typeof r.output === 'object' && r.output !== null && (r.output as { ok?: unknown }).ok === false);
    return { op, ok, output: r.output, encoding: r.encoding, metadata: r.metadata };
  }

  #mapping(input: NodeInvocation) {
    let m = this.#mappings.get(input.config);
    if (m) return m;
    const { op, payload } = nodePayload(input, undefined);
    const config = payload.config;
    let payloadOf: (scope: MappingScope, locale: CallLocale) => unknown;
    if (Object.hasOwn(config, 'input')) {
      const mapping = InputMapping.parse(config.input);
      delete config.input;
      payloadOf = (scope) => mapping.render(scope);
    } else {
      // The tenant environment's language and time zone go with the default payload (a template says what it sends).
      payloadOf = (scope, locale) => ({ message: scope.message, config, resumed: scope.resumed, locale });
    }
    m = { op, payloadOf, config };
    if (this.#mappings.size >= MAX_MAPPINGS) this.#mappings.delete(this.#mappings.keys().next().value!);
    this.#mappings.set(input.config, m);
    return m;
  }

  /** Check `payload` against the manifest's schema of `op`, else the one the component describes. */
  #checkInput(op: string, payload: unknown, manifestSchema: unknown, where: string): void {
    const schema = manifestSchema ?? this.#describedSchema(op);
    if (schema === undefined) return;
    const check = this.schemas.of(schema);
    if (!check.ok) return;
    const why = check.check(payload);
    if (why !== null) throw new GreenticNodeError('invalid-input', `${where}: ${why} (the op's input schema)`);
  }

  /** The input schema the component describes for `op` (inline CBOR), decoded once. */
  #describedSchema(op: string): unknown {
    if (this.#schemas.has(op)) return this.#schemas.get(op);
    const source = this.describe().ops.find((o) => o.name === op)?.input.schema;
    let schema: unknown;
    // The descriptor's bytes were charged when they were lifted; their items are bounded here.
    if (source?.tag === 'inline-cbor' && cborItemCount(source.val, MAX_SCHEMA_ITEMS) <= MAX_SCHEMA_ITEMS) {
      try {
        schema = decodeCbor(source.val);
      } catch {
        schema = undefined;
      }
    }
    this.#schemas.set(op, schema);
    return schema;
  }

  #op(requested: string | undefined, component: string): string {
    const { descriptor, opsListed } = this.adapter.describe();
    const ops = descriptor.ops.map((o) => o.name);
    if (requested === undefined) {
      if (ops[0] === undefined) throw new GreenticNodeError('invalid-config', `component "${component}" describes no ops; name one with config.op`);
      return ops[0];
    }
    if (opsListed && !ops.includes(requested)) {
      throw new GreenticNodeError('unknown-op', `component "${component}" has no op "${requested}" (it describes: ${ops.join(', ') || 'none'})`);
    }
    return requested;
  }
}
