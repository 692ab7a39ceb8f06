/**
 * greentic:component/node@0.6.x: `describe() -> component-descriptor` and
 * `invoke(op, invocation-envelope) -> result<invocation-result, node-error>`, CBOR payloads.
 * Some published components export `invoke` only; their descriptor is derived (no ops listed:
 * the manifest's operations, or the node's `config.op`, name them).
 */
import type { ValueBudget } from '../sandbox/value-budget.js';
import type { AbiCall, AbiOutcome, GreenticAbiAdapter } from './abi.js';
import { encodeCbor } from './cbor.js';
import type { ComponentDescriptor, GreenticNodeExport, InvocationResult } from './contract.js';
import { derivedDescriptor } from './derived-descriptor.js';
import { decodeGuestCbor } from './decode.js';
import { invocationEnvelope } from './envelope.js';

export class Node06Adapter implements GreenticAbiAdapter {
  readonly abi = 'node-0.6' as const;
  #described: ReturnType<GreenticAbiAdapter['describe']> | undefined;

  constructor(
    private readonly node: Partial<GreenticNodeExport>,
    private readonly name: string,
    private readonly budget: () => ValueBudget,
  ) {}

  /** True when `exports` hold an invoke function: all this ABI needs. */
  static usable(node: unknown): node is Partial<GreenticNodeExport> {
    return typeof node === 'object' && node !== null && typeof (node as { invoke?: unknown }).invoke === 'function';
  }

  describe(): ReturnType<GreenticAbiAdapter['describe']> {
    if (!this.#described) {
      const describe = this.node.describe;
      this.#described =
        typeof describe === 'function'
          ? { descriptor: describe.call(this.node) as ComponentDescriptor, derived: false, opsListed: true }
          : { descriptor: derivedDescriptor(this.name, '0.0.0', 'exports invoke only (no describe)'), derived: true, opsListed: false };
    }
    return this.#described;
  }

  invoke(call: AbiCall): AbiOutcome {
    const result: InvocationResult = this.node.invoke!(call.op, invocationEnvelope(call.ctx, call.info, call.step, encodeCbor(call.payload)));
    const where = `component "${call.info.component}" (op "${call.op}")`;
    const output = decodeGuestCbor(result.outputCbor, this.budget(), where);
    const metadata = result.outputMetadataCbor === undefined ? undefined : decodeGuestCbor(result.outputMetadataCbor, this.budget(), where);
    return { ok: result.ok === true, output, encoding: 'cbor', metadata };
  }
}
