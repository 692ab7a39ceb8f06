/**
 * Descriptors for components that do not describe themselves in node@0.6's terms: built from
 * what they do say (a get-manifest JSON, a CBOR describe payload) so `describe`, op checks and
 * the CLI treat every ABI alike. Schemas a component gives are kept as inline CBOR.
 */
import { encodeCbor } from './cbor.js';
import type { ComponentDescriptor, IoSchema, OpDescriptor } from './contract.js';

const CBOR = 'application/cbor';

/** A descriptor with no ops: the component lists none itself. */
export function derivedDescriptor(name: string, version: string, summary: string): ComponentDescriptor {
  return { name, version, summary, capabilities: [], ops: [], schemas: [], setup: undefined };
}

/** An io-schema holding `schema` (a component's own schema value) as inline CBOR, or none. */
export function inlineSchema(schema: unknown, contentType = CBOR): IoSchema {
  if (schema === undefined || schema === null) return { schema: { tag: 'cbor-schema-id', val: 'none' }, contentType, schemaVersion: undefined };
  return { schema: { tag: 'inline-cbor', val: encodeCbor(schema) }, contentType, schemaVersion: undefined };
}

/** One op of a derived descriptor. */
export function derivedOp(name: string, summary: string | undefined, input: unknown, output: unknown, contentType = CBOR): OpDescriptor {
  return { name, summary, input: inlineSchema(input, contentType), output: inlineSchema(output, contentType), examples: [] };
}

/** A string field of a decoded map, if it is one. */
export function textField(m: unknown, ...path: string[]): string | undefined {
  let v: unknown = m;
  for (const k of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return typeof v === 'string' ? v : undefined;
}
