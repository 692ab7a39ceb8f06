import type { NextStep, NodeOutput } from '../components/node-world.js';
import { CborError, decodeCbor } from './cbor.js';
import type { InvocationResult } from './contract.js';

/**
 * A Greentic call that ends in a node error: the guest's own node-error, its `ok: false`, or an
 * output the host cannot map. Carries `payload` like a guest's node-error, so the worker reports
 * it the same way (the instance stays usable).
 */
export class GreenticNodeError extends Error {
  override readonly name = 'GreenticNodeError';
  readonly payload: { code: string; message: string; retryable: boolean };
  constructor(code: string, message: string, retryable = false) {
    super(message);
    this.payload = { code, message, retryable };
  }
}

const EXPECTED = 'expected a text string, a list of text strings, or a map with text, replies, route, wait or end';

/**
 * Map an invocation-result onto a flow node's output. `where` names the component and op.
 *
 * - `ok: false`: a node error; a CBOR map's `code`, `message` and `retryable` are used when it has
 *   them, a text string becomes the message, and the code is otherwise `invocation-failed`.
 * - no output, or CBOR null: no reply, on to the node's `next`.
 * - a text string: one reply. A list of text strings: one reply each.
 * - a map: `text` (one reply), `replies` (a list), and at most one of `route: LABEL`,
 *   `wait: true`, `end: true` for the next step; other keys (the component's data) are ignored.
 */
export function nodeOutputFromResult(result: InvocationResult, where: string): NodeOutput {
  let value: unknown;
  try {
    value = decodeCbor(result.outputCbor);
  } catch (e) {
    if (!(e instanceof CborError)) throw e;
    throw new GreenticNodeError('invalid-output', `${where} returned output-cbor that is not CBOR: ${e.message}`);
  }
  if (!result.ok) throw failure(value, where);
  if (value === undefined || value === null) return { replies: [], next: { tag: 'proceed' } };
  if (typeof value === 'string') return { replies: [value], next: { tag: 'proceed' } };
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) return { replies: value as string[], next: { tag: 'proceed' } };
    throw new GreenticNodeError('invalid-output', `${where} returned a list that is not all text strings; ${EXPECTED}`);
  }
  if (typeof value !== 'object' || value instanceof Uint8Array) {
    throw new GreenticNodeError('invalid-output', `${where} returned ${describeValue(value)}; ${EXPECTED}`);
  }
  return fromMap(value as Record<string, unknown>, where);
}

function fromMap(map: Record<string, unknown>, where: string): NodeOutput {
  const bad = (why: string) => new GreenticNodeError('invalid-output', `${where} returned a map whose ${why}`);
  const replies: string[] = [];
  if (Object.hasOwn(map, 'text')) {
    if (typeof map.text !== 'string') throw bad('"text" is not a text string');
    replies.push(map.text);
  }
  if (Object.hasOwn(map, 'replies')) {
    if (!Array.isArray(map.replies) || map.replies.some((r) => typeof r !== 'string')) throw bad('"replies" is not a list of text strings');
    replies.push(...(map.replies as string[]));
  }
  const steps: NextStep[] = [];
  if (Object.hasOwn(map, 'route')) {
    if (typeof map.route !== 'string' || map.route === '') throw bad('"route" is not a route label');
    steps.push({ tag: 'route', val: map.route });
  }
  for (const tag of ['wait', 'end'] as const) {
    if (!Object.hasOwn(map, tag)) continue;
    if (typeof map[tag] !== 'boolean') throw bad(`"${tag}" is not true or false`);
    if (map[tag]) steps.push({ tag });
  }
  if (steps.length > 1) throw bad(`next step is ambiguous (${steps.map((s) => s.tag).join(' and ')})`);
  return { replies, next: steps[0] ?? { tag: 'proceed' } };
}

function failure(value: unknown, where: string): GreenticNodeError {
  if (typeof value === 'string' && value !== '') return new GreenticNodeError('invocation-failed', value);
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    const m = value as Record<string, unknown>;
    const code = typeof m.code === 'string' && m.code !== '' ? m.code : 'invocation-failed';
    const message = typeof m.message === 'string' && m.message !== '' ? m.message : `${where} answered ok: false`;
    return new GreenticNodeError(code, message, m.retryable === true);
  }
  return new GreenticNodeError('invocation-failed', `${where} answered ok: false`);
}

function describeValue(v: unknown): string {
  if (v instanceof Uint8Array) return 'a byte string';
  if (typeof v === 'bigint' || typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return `${v}`;
  return `a ${typeof v}`;
}
