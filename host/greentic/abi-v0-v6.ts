/**
 * The component-v0-v6 world @0.6.0 (component-descriptor, component-schema, component-runtime,
 * component-qa, component-i18n), CBOR throughout. `run(input, state) -> run-result` is the one
 * entry: every op its descriptor lists runs it, with the node's state blob (kept by the host in
 * the session, per node). `qa-spec`, `apply-answers` and `i18n-keys` reach the QA and i18n
 * exports, so `greentic-host call --op` can drive a component's setup as Greentic's tools do.
 */
import type { ValueBudget } from '../sandbox/value-budget.js';
import type { AbiCall, AbiOutcome, GreenticAbiAdapter } from './abi.js';
import type { ComponentDescriptor } from './contract.js';
import { encodeCbor } from './cbor.js';
import { derivedDescriptor, derivedOp, textField } from './derived-descriptor.js';
import { decodeGuestCbor } from './decode.js';
import { GreenticNodeError } from './output.js';

type Bytes = Uint8Array;
export interface V0V6Exports {
  descriptor?: { getComponentInfo?(): Bytes; describe?(): Bytes };
  schema?: { inputSchema?(): Bytes; outputSchema?(): Bytes; configSchema?(): Bytes };
  runtime: { run(input: Bytes, state: Bytes): { output: Bytes; newState: Bytes } };
  qa?: { qaSpec?(mode: string): Bytes; applyAnswers?(mode: string, current: Bytes, answers: Bytes): Bytes };
  i18n?: { i18nKeys?(): string[] };
}

/** Ops that reach the QA and i18n exports instead of run(). */
export const SETUP_OPS = ['qa-spec', 'apply-answers', 'i18n-keys'] as const;

export class V0V6Adapter implements GreenticAbiAdapter {
  readonly abi = 'v0-v6' as const;
  #described: ReturnType<GreenticAbiAdapter['describe']> | undefined;

  constructor(
    private readonly x: V0V6Exports,
    private readonly name: string,
    private readonly budget: () => ValueBudget,
  ) {}

  describe(): ReturnType<GreenticAbiAdapter['describe']> {
    if (this.#described) return this.#described;
    const where = `component "${this.name}" (describe)`;
    const payload = this.x.descriptor?.describe ? decodeGuestCbor(this.x.descriptor.describe(), this.budget(), where) : undefined;
    const info = (payload as { info?: unknown } | undefined)?.info;
    const d: ComponentDescriptor = derivedDescriptor(
      textField(info, 'id') ?? this.name,
      textField(info, 'version') ?? '0.0.0',
      textField(info, 'display_name', 'fallback') ?? 'component-v0-v6 world @0.6.0',
    );
    const operations = (payload as { operations?: unknown } | undefined)?.operations;
    if (Array.isArray(operations)) {
      for (const o of operations.slice(0, 256)) {
        const id = textField(o, 'id') ?? textField(o, 'name');
        if (id === undefined || d.ops.some((x) => x.name === id)) continue;
        const rec = o as Record<string, { schema?: unknown } | undefined>;
        d.ops.push(derivedOp(id, textField(o, 'display_name', 'fallback') ?? 'runs component-runtime.run', rec.input?.schema, rec.output?.schema));
      }
    }
    if (d.ops.length === 0) {
      const input = this.x.schema?.inputSchema ? decodeGuestCbor(this.x.schema.inputSchema(), this.budget(), where) : undefined;
      const output = this.x.schema?.outputSchema ? decodeGuestCbor(this.x.schema.outputSchema(), this.budget(), where) : undefined;
      d.ops.push(derivedOp('run', 'runs component-runtime.run', input, output));
    }
    if (this.x.qa?.qaSpec) d.ops.push(derivedOp('qa-spec', 'component-qa.qa-spec: the questions of payload.mode (default, setup, ...)', undefined, undefined));
    if (this.x.qa?.applyAnswers)
      d.ops.push(derivedOp('apply-answers', 'component-qa.apply-answers: payload { mode, current_config, answers }', undefined, undefined));
    if (this.x.i18n?.i18nKeys) d.ops.push(derivedOp('i18n-keys', 'component-i18n.i18n-keys', undefined, undefined));
    // run() is not told the op: the ops a node may name are its manifest's (Greentic's templates lists "text", its descriptor "handle_message").
    this.#described = { descriptor: d, derived: true, opsListed: false };
    return this.#described;
  }

  invoke(call: AbiCall): AbiOutcome {
    const where = `component "${call.info.component}" (op "${call.op}")`;
    const p = (call.payload ?? {}) as Record<string, unknown>;
    const cbor = (bytes: Bytes) => ({ ok: true, output: decodeGuestCbor(bytes, this.budget(), where), encoding: 'cbor' as const });
    switch (call.op) {
      case 'qa-spec':
        return cbor(this.x.qa!.qaSpec!(modeOf(p, where)));
      case 'apply-answers':
        return cbor(this.x.qa!.applyAnswers!(modeOf(p, where), encodeCbor(p.current_config ?? {}), encodeCbor(p.answers ?? {})));
      case 'i18n-keys': {
        const keys = this.x.i18n!.i18nKeys!();
        return { ok: true, output: keys, encoding: 'cbor' };
      }
    }
    const state = call.runState?.read() ?? new Uint8Array();
    const r = this.x.runtime.run(encodeCbor(call.payload), state);
    if (call.runState && r.newState instanceof Uint8Array && !sameBytes(r.newState, state)) call.runState.write(r.newState);
    return cbor(r.output);
  }
}

function modeOf(p: Record<string, unknown>, where: string): string {
  const mode = Object.hasOwn(p, 'mode') ? p.mode : 'default';
  if (typeof mode !== 'string') throw new GreenticNodeError('invalid-input', `${where}: payload.mode must be a text string (default, setup, upgrade, remove)`);
  return mode;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
