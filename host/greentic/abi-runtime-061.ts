/**
 * The world of Greentic's messaging providers (slack, teams, telegram, webchat, whatsapp, webex,
 * email, state providers): greentic:component/descriptor, runtime, qa and component-i18n @0.6.1,
 * and greentic:provider-schema-core/schema-core-api@1.0.0 (JSON). `runtime.invoke(op, cbor)`
 * runs an op; without a runtime export, schema-core's `invoke(op, json)` does. `qa-spec`,
 * `apply-answers`, `i18n-keys`, `i18n-bundle`, `validate-config` and `healthcheck` reach the
 * other exports.
 */
import type { ValueBudget } from '../sandbox/value-budget.js';
import type { AbiCall, AbiOutcome, GreenticAbiAdapter } from './abi.js';
import { encodeCbor } from './cbor.js';
import type { ComponentDescriptor } from './contract.js';
import { derivedDescriptor, derivedOp, textField } from './derived-descriptor.js';
import { decodeGuestCbor, parseGuestJson } from './decode.js';
import { GreenticNodeError } from './output.js';

type Bytes = Uint8Array;
export interface Runtime061Exports {
  descriptor?: { describe?(): Bytes };
  runtime?: { invoke(op: string, input: Bytes): Bytes };
  qa?: { qaSpec?(mode: string): Bytes; applyAnswers?(mode: string, answers: Bytes): Bytes };
  i18n?: { i18nKeys?(): string[]; i18nBundle?(locale: string): Bytes };
  schemaCore?: { describe?(): Bytes; validateConfig?(config: Bytes): Bytes; healthcheck?(): Bytes; invoke?(op: string, input: Bytes): Bytes };
}

const json = new TextEncoder();

export class Runtime061Adapter implements GreenticAbiAdapter {
  readonly abi = 'runtime-0.6.1' as const;
  #described: ReturnType<GreenticAbiAdapter['describe']> | undefined;

  constructor(
    private readonly x: Runtime061Exports,
    private readonly name: string,
    private readonly budget: () => ValueBudget,
  ) {}

  describe(): ReturnType<GreenticAbiAdapter['describe']> {
    if (this.#described) return this.#described;
    const where = `component "${this.name}" (describe)`;
    const payload = this.x.descriptor?.describe
      ? decodeGuestCbor(this.x.descriptor.describe(), this.budget(), where)
      : this.x.schemaCore?.describe
        ? parseGuestJson(this.x.schemaCore.describe(), this.budget(), where)
        : undefined;
    const p = (payload ?? {}) as Record<string, unknown>;
    const d: ComponentDescriptor = derivedDescriptor(
      textField(p, 'provider') ?? this.name,
      '0.0.0',
      `provider (${textField(p, 'world') ?? 'descriptor/runtime@0.6.1'})`,
    );
    if (Array.isArray(p.operations)) {
      const listed = p.operations.slice(0, 256);
      // The payload has one input and one output schema for all ops: it is an op's only when there is one op.
      const single = listed.length === 1;
      for (const o of listed) {
        const name = textField(o, 'name') ?? textField(o, 'id');
        if (name === undefined || d.ops.some((x) => x.name === name)) continue;
        d.ops.push(derivedOp(name, textField(o, 'description', 'key'), single ? p.input_schema : undefined, single ? p.output_schema : undefined));
      }
      if (!single && p.input_schema !== undefined) {
        d.schemas.push({
          id: 'input',
          contentType: 'application/cbor',
          blake3Hash: textField(p, 'schema_hash') ?? '',
          version: '0',
          bytes: encodeCbor(p.input_schema),
          uri: undefined,
        });
      }
    }
    const extra: Array<[string, boolean, string]> = [
      ['qa-spec', !!this.x.qa?.qaSpec, 'qa.qa-spec: the questions of payload.mode (default, setup, upgrade, remove)'],
      ['apply-answers', !!this.x.qa?.applyAnswers, 'qa.apply-answers: payload { mode, answers }'],
      ['i18n-keys', !!this.x.i18n?.i18nKeys, 'component-i18n.i18n-keys'],
      ['i18n-bundle', !!this.x.i18n?.i18nBundle, 'component-i18n.i18n-bundle: payload { locale }'],
      ['validate-config', !!this.x.schemaCore?.validateConfig, 'schema-core validate-config: the payload is the config'],
      ['healthcheck', !!this.x.schemaCore?.healthcheck, 'schema-core healthcheck'],
    ];
    for (const [name, present, summary] of extra)
      if (present && !d.ops.some((o) => o.name === name)) d.ops.push(derivedOp(name, summary, undefined, undefined));
    this.#described = { descriptor: d, derived: true, opsListed: d.ops.length > 0 };
    return this.#described;
  }

  invoke(call: AbiCall): AbiOutcome {
    const where = `component "${call.info.component}" (op "${call.op}")`;
    const p = (call.payload ?? {}) as Record<string, unknown>;
    const cbor = (bytes: Bytes): AbiOutcome => ({ ok: true, output: decodeGuestCbor(bytes, this.budget(), where), encoding: 'cbor' });
    const fromJson = (bytes: Bytes): AbiOutcome => ({ ok: true, output: parseGuestJson(bytes, this.budget(), where), encoding: 'json' });
    const text = (key: string, fallback: string): string => {
      const v = Object.hasOwn(p, key) ? p[key] : fallback;
      if (typeof v !== 'string') throw new GreenticNodeError('invalid-input', `${where}: payload.${key} must be a text string`);
      return v;
    };
    switch (call.op) {
      case 'qa-spec':
        if (this.x.qa?.qaSpec) return cbor(this.x.qa.qaSpec(text('mode', 'default')));
        break;
      case 'apply-answers':
        if (this.x.qa?.applyAnswers) return cbor(this.x.qa.applyAnswers(text('mode', 'default'), encodeCbor(p.answers ?? {})));
        break;
      case 'i18n-keys':
        if (this.x.i18n?.i18nKeys) return { ok: true, output: this.x.i18n.i18nKeys(), encoding: 'cbor' };
        break;
      case 'i18n-bundle':
        if (this.x.i18n?.i18nBundle) return cbor(this.x.i18n.i18nBundle(text('locale', 'en')));
        break;
      case 'validate-config':
        if (this.x.schemaCore?.validateConfig) return fromJson(this.x.schemaCore.validateConfig(json.encode(JSON.stringify(call.payload ?? {}))));
        break;
      case 'healthcheck':
        if (this.x.schemaCore?.healthcheck) return fromJson(this.x.schemaCore.healthcheck());
        break;
    }
    if (this.x.runtime) return cbor(this.x.runtime.invoke(call.op, encodeCbor(call.payload)));
    if (this.x.schemaCore?.invoke) return fromJson(this.x.schemaCore.invoke(call.op, json.encode(JSON.stringify(call.payload ?? null))));
    throw new GreenticNodeError('invalid-config', `${where}: the component exports neither runtime.invoke nor schema-core invoke`);
  }
}
