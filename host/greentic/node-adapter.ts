import type { NodeInvocation, NodeOutput } from '../components/node-world.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import type { ValueBudget } from '../sandbox/value-budget.js';
import { encodeCbor } from './cbor.js';
import { cborItemCount } from './cbor-items.js';
import type { ComponentDescriptor, GreenticNodeExport, InvocationResult } from './contract.js';
import { invocationEnvelope, nodePayload, type GreenticCallInfo } from './envelope.js';
import { GreenticNodeError, nodeOutputFromResult } from './output.js';

/** What one raw invocation returned (for `greentic-host call`): the result's bytes, undecoded. */
export interface RawInvocation {
  readonly op: string;
  readonly ok: boolean;
  readonly outputCbor: Uint8Array;
  readonly outputMetadataCbor: Uint8Array | undefined;
}

/**
 * One instance of a Greentic node component, as the worker runs it: describe() once and kept,
 * the op chosen and checked against it, the envelope built from the bound ctx, and the output
 * mapped onto a flow node's replies and next step. Runs in the guest worker.
 */
export class GreenticNode {
  #descriptor: ComponentDescriptor | undefined;

  constructor(
    private readonly node: GreenticNodeExport,
    private readonly budget: () => ValueBudget,
  ) {}

  /** The component's descriptor; describe() runs once per instance. */
  describe(): ComponentDescriptor {
    this.#descriptor ??= this.node.describe();
    return this.#descriptor;
  }

  /** Run a flow node: `config.op` (or the first op described), payload `{ message, config, resumed }`. */
  invokeNode(ctx: TenantCtx, input: NodeInvocation, call: GreenticCallInfo): NodeOutput {
    const { op: requested, payload } = nodePayload(input);
    const op = this.#op(requested, call.component);
    const result = this.node.invoke(op, invocationEnvelope(ctx, call, input.nodeId, encodeCbor(payload)));
    // Each CBOR item becomes a JS value: charged before the output is decoded.
    const budget = this.budget();
    if (result.outputCbor instanceof Uint8Array) budget.items(cborItemCount(result.outputCbor, budget.maxItems));
    return nodeOutputFromResult(result, `component "${call.component}" (op "${op}")`);
  }

  /** Run `op` (or the first op described) on `payload` as it is, and return what came back. */
  invokeRaw(ctx: TenantCtx, requested: string | undefined, payload: unknown, call: GreenticCallInfo, step: string): RawInvocation {
    const op = this.#op(requested, call.component);
    const result: InvocationResult = this.node.invoke(op, invocationEnvelope(ctx, call, step, encodeCbor(payload)));
    return { op, ok: result.ok, outputCbor: result.outputCbor, outputMetadataCbor: result.outputMetadataCbor };
  }

  #op(requested: string | undefined, component: string): string {
    const ops = this.describe().ops.map((o) => o.name);
    if (requested === undefined) {
      if (ops[0] === undefined) throw new GreenticNodeError('invalid-config', `component "${component}" describes no ops; name one with config.op`);
      return ops[0];
    }
    if (!ops.includes(requested)) {
      throw new GreenticNodeError('unknown-op', `component "${component}" has no op "${requested}" (it describes: ${ops.join(', ') || 'none'})`);
    }
    return requested;
  }
}
