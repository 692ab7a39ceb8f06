/**
 * Checking an op's input against the schema it declares, before the component is called: the
 * manifest's `operations[].input_schema` (JSON Schema, checked with ajv), else the schema the
 * component describes itself (Greentic's schema IR, in either of its published forms, turned into
 * JSON Schema here). A schema that cannot be used (an unresolvable `$ref`, a construct this host
 * does not translate) checks nothing and says so once, where it is loaded.
 */
import { createRequire } from 'node:module';
import type { Ajv as Ajv07, ValidateFunction } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';

// ajv takes 70 ms to load: it is read when the first schema is compiled, not when a process
// (a CLI command, every worker) starts. It is CommonJS, so the load can stay synchronous.
const require = createRequire(import.meta.url);
const ajvFor = (is2020: boolean): Ajv07 | Ajv2020 =>
  is2020 ? new (require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js')).Ajv2020(OPTIONS) : new (require('ajv') as typeof import('ajv')).Ajv(OPTIONS);

export type SchemaCheck = { ok: true; check: (value: unknown) => string | null } | { ok: false; why: string };

const OPTIONS = { strict: false, allErrors: false, validateFormats: false, allowUnionTypes: true, validateSchema: true } as const;
/** Compiled checks kept per process (a worker, or the main thread), by schema text. */
const MAX_CACHED = 256;

/** The compilers and what they compiled; one per worker or host (module-level caches would be shared). */
export class SchemaChecks {
  #ajv07: Ajv07 | undefined;
  #ajv2020: Ajv2020 | undefined;
  readonly #cache = new Map<string, SchemaCheck>();

  /** The check for a JSON Schema (or schema IR) value. */
  of(schema: unknown): SchemaCheck {
    const json = jsonSchemaOf(schema);
    if (!json.ok) return json;
    const key = JSON.stringify(json.schema);
    const hit = this.#cache.get(key);
    if (hit) return hit;
    // JSON text and back: what the IR translation left undefined is absent, as in the file.
    const made = this.#compile(JSON.parse(key) as Record<string, unknown> | boolean);
    if (this.#cache.size >= MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, made);
    return made;
  }

  #compile(schema: Record<string, unknown> | boolean): SchemaCheck {
    const is2020 = typeof schema === 'object' && typeof schema.$schema === 'string' && schema.$schema.includes('2020-12');
    let validate: ValidateFunction;
    try {
      const ajv = is2020 ? (this.#ajv2020 ??= ajvFor(true) as Ajv2020) : (this.#ajv07 ??= ajvFor(false) as Ajv07);
      // A schema's own $id would collide with the same schema compiled again: compile a copy without it.
      const copy = typeof schema === 'object' ? { ...schema, $id: undefined } : schema;
      validate = ajv.compile(copy);
    } catch (e) {
      return { ok: false, why: `not a usable JSON Schema: ${(e as Error).message.split('\n')[0]}` };
    }
    return {
      ok: true,
      check: (value) => {
        if (validate(value)) return null;
        const err = validate.errors?.[0];
        if (!err) return 'does not match';
        const at = err.instancePath === '' ? 'the input' : `input${err.instancePath}`;
        const extra = err.keyword === 'additionalProperties' ? ` (${JSON.stringify((err.params as { additionalProperty?: string }).additionalProperty)})` : '';
        return `${at} ${err.message ?? 'does not match'}${extra}`;
      },
    };
  }
}

/** True for a schema that allows anything (`{}`, `true`, an IR "any"). */
function allowsAll(s: unknown): boolean {
  return s === true || (typeof s === 'object' && s !== null && !Array.isArray(s) && Object.keys(s).length === 0);
}

/**
 * A JSON Schema for `schema`: itself when it is one, or the translation of Greentic's schema IR:
 * `{type: object|array|string|int|float|bool|null|bytes|enum|one_of, properties, required,
 * additional: {type: allow|forbid|schema}, items, min_len, max_len, regex, min, max, values,
 * variants}` (node@0.6 descriptors) or `{kind: object|string|bool, fields: {name: {required,
 * schema}}, additional_properties}` (provider descriptors).
 */
export function jsonSchemaOf(schema: unknown): { ok: true; schema: Record<string, unknown> | boolean } | { ok: false; why: string } {
  if (schema === undefined || schema === null || allowsAll(schema)) return { ok: true, schema: true };
  if (typeof schema === 'boolean') return { ok: true, schema };
  if (typeof schema !== 'object' || Array.isArray(schema)) return { ok: false, why: 'the schema is not an object' };
  const s = schema as Record<string, unknown>;
  if (isIr(s)) {
    try {
      return { ok: true, schema: fromIr(s, 0) };
    } catch (e) {
      return { ok: false, why: (e as Error).message };
    }
  }
  return { ok: true, schema: s };
}

const IR_TYPES = new Set(['int', 'float', 'bool', 'bytes', 'enum', 'one_of', 'ref']);
/** Schema IR rather than JSON Schema: a `kind`, an IR-only type name, an IR `additional` record, or IR string bounds. */
function isIr(s: Record<string, unknown>): boolean {
  if (typeof s.kind === 'string') return true;
  if (typeof s.type === 'string' && IR_TYPES.has(s.type)) return true;
  if (typeof s.additional === 'object' && s.additional !== null && Object.hasOwn(s.additional, 'type')) return true;
  return Object.hasOwn(s, 'min_len') || Object.hasOwn(s, 'max_len') || Object.hasOwn(s, 'regex');
}

function fromIr(s: Record<string, unknown>, depth: number): Record<string, unknown> {
  if (depth > 32) throw new Error('the schema nests deeper than 32 levels');
  const kind = (typeof s.kind === 'string' ? s.kind : s.type) as string;
  const sub = (x: unknown): Record<string, unknown> | boolean => {
    if (allowsAll(x)) return true;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error('a sub-schema is not an object');
    return fromIr(x as Record<string, unknown>, depth + 1);
  };
  const num = (k: string) => (typeof s[k] === 'number' ? s[k] : undefined);
  switch (kind) {
    case 'object': {
      const properties: Record<string, unknown> = {};
      const required: string[] = [];
      if (s.fields && typeof s.fields === 'object') {
        for (const [k, f] of Object.entries(s.fields as Record<string, { required?: unknown; schema?: unknown }>)) {
          properties[k] = sub(f?.schema);
          if (f?.required === true) required.push(k);
        }
      }
      if (s.properties && typeof s.properties === 'object') for (const [k, p] of Object.entries(s.properties)) properties[k] = sub(p);
      if (Array.isArray(s.required)) for (const r of s.required) if (typeof r === 'string' && !required.includes(r)) required.push(r);
      const out: Record<string, unknown> = { type: 'object', properties, required };
      const add = s.additional as { type?: unknown; schema?: unknown } | undefined;
      if (s.additional_properties === false || add?.type === 'forbid') out.additionalProperties = false;
      else if (add?.type === 'schema') out.additionalProperties = sub(add.schema);
      return out;
    }
    case 'array':
      return { type: 'array', ...(s.items !== undefined ? { items: sub(s.items) } : {}), minItems: num('min_items'), maxItems: num('max_items') };
    case 'string': {
      const out: Record<string, unknown> = { type: 'string', minLength: num('min_len'), maxLength: num('max_len') };
      if (typeof s.regex === 'string') {
        try {
          new RegExp(s.regex, 'u');
          out.pattern = s.regex;
        } catch {
          throw new Error(`its regex ${JSON.stringify(s.regex.slice(0, 60))} is not one JavaScript can check`);
        }
      }
      return out;
    }
    case 'int':
    case 'integer':
      return { type: 'integer', minimum: num('min'), maximum: num('max') };
    case 'float':
    case 'number':
      return { type: 'number', minimum: num('min'), maximum: num('max') };
    case 'bool':
    case 'boolean':
      return { type: 'boolean' };
    case 'null':
      return { type: 'null' };
    case 'bytes':
      return {};
    case 'enum':
      if (!Array.isArray(s.values)) throw new Error('an enum without values');
      return { enum: s.values };
    case 'one_of':
      if (!Array.isArray(s.variants)) throw new Error('a one_of without variants');
      return { oneOf: s.variants.map((v) => sub((v as { schema?: unknown })?.schema ?? v)) };
    default:
      throw new Error(`its schema IR type ${JSON.stringify(String(kind).slice(0, 40))} is not one this host translates`);
  }
}
