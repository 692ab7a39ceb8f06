/**
 * What a Greentic component answers, decoded only after its items are charged to the call's
 * value budget: decoding allocates a JS value per CBOR item or JSON value, so a guest's few
 * bytes of `[[[[...` cannot become millions of objects on the worker's heap.
 */
import type { ValueBudget } from '../sandbox/value-budget.js';
import { CborError, decodeCbor } from './cbor.js';
import { cborItemCount } from './cbor-items.js';
import { GreenticNodeError } from './output.js';

/** Decode CBOR a guest returned; `where` names the component and the function. */
export function decodeGuestCbor(bytes: unknown, budget: ValueBudget, where: string): unknown {
  if (!(bytes instanceof Uint8Array)) throw new GreenticNodeError('invalid-output', `${where} returned no byte list`);
  budget.items(cborItemCount(bytes, budget.maxItems));
  try {
    return decodeCbor(bytes);
  } catch (e) {
    if (!(e instanceof CborError)) throw e;
    throw new GreenticNodeError('invalid-output', `${where} returned bytes that are not CBOR: ${e.message}`);
  }
}

/**
 * The number of JSON values in `text` (an upper bound: one more than its commas, plus its
 * brackets and braces, outside strings), or a number above `max` as soon as it passes it.
 */
export function jsonItemCount(text: string, max: number): number {
  let items = 1;
  let inString = false;
  for (let i = 0; i < text.length && items <= max; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x2c || c === 0x5b || c === 0x7b) items++;
  }
  return items;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parse JSON a guest returned (a string, or UTF-8 bytes); empty is no output. */
export function parseGuestJson(value: unknown, budget: ValueBudget, where: string): unknown {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value instanceof Uint8Array) {
    try {
      text = utf8.decode(value);
    } catch {
      throw new GreenticNodeError('invalid-output', `${where} returned bytes that are not UTF-8 JSON`);
    }
  } else throw new GreenticNodeError('invalid-output', `${where} returned no JSON`);
  if (text.trim() === '') return undefined;
  budget.items(jsonItemCount(text, budget.maxItems));
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new GreenticNodeError('invalid-output', `${where} returned text that is not JSON: ${(e as Error).message}`);
  }
}
