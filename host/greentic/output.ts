import type { NextStep, NodeOutput } from '../components/node-world.js';
import { CborError, decodeCbor } from './cbor.js';
import type { InvocationResult } from './contract.js';
import { richMessageOf, RichMessageError, type RichMessage } from './rich-message.js';

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

/** Decode an invocation-result's output-cbor and map it (nodeOutputFromValue). `where` names the component and op. */
export function nodeOutputFromResult(result: InvocationResult, where: string): NodeOutput {
  let value: unknown;
  try {
    value = decodeCbor(result.outputCbor);
  } catch (e) {
    if (!(e instanceof CborError)) throw e;
    throw new GreenticNodeError('invalid-output', `${where} returned output-cbor that is not CBOR: ${e.message}`);
  }
  return nodeOutputFromValue(result.ok, value, where);
}

/**
 * Map a Greentic component's decoded output onto a flow node's output. `where` names the
 * component and op.
 *
 * - `ok: false` (the invocation's, or a map's own `ok: false`, or a map carrying an `error`
 *   without `ok: true`): a node error; `code`, `message` and `retryable` (or an `error` map's, or
 *   `error` as the message) are used when present, the code is otherwise `invocation-failed`.
 * - no output, or CBOR null: no reply, on to the node's `next`.
 * - a text string: one reply. A list: one reply per text string or message map.
 * - a map: `text` (else `message` when it is a text string) is one reply; `replies` a list of
 *   them; a card, buttons or attachments (rich-message.ts) make that reply a structured one;
 *   at most one of `route: LABEL`, `wait: true`, `end: true` is the next step; other keys
 *   (the component's data) are no reply.
 */
export function nodeOutputFromValue(ok: boolean, value: unknown, where: string): NodeOutput {
  if (!ok || failed(value)) throw failure(value, where);
  if (value === undefined || value === null) return { replies: [], next: { tag: 'proceed' } };
  if (typeof value === 'string') return { replies: [value], next: { tag: 'proceed' } };
  if (Array.isArray(value)) {
    const out: NodeOutput = { replies: [], next: { tag: 'proceed' } };
    for (const v of value) {
      if (typeof v === 'string') push(out, v, null);
      else if (isMap(v)) pushMessage(out, v, where);
      else throw new GreenticNodeError('invalid-output', `${where} returned a list that is not all text strings; ${EXPECTED}`);
    }
    return out;
  }
  if (!isMap(value)) throw new GreenticNodeError('invalid-output', `${where} returned ${describeValue(value)}; ${EXPECTED}`);
  return fromMap(value, where);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Map);
}

/** A map that says it failed: `ok: false`, or an `error` (text or map) without `ok: true`. */
function failed(v: unknown): boolean {
  if (!isMap(v)) return false;
  if (Object.hasOwn(v, 'ok') && v.ok === false) return true;
  if (!Object.hasOwn(v, 'error') || v.ok === true) return false;
  const e = v.error;
  return (typeof e === 'string' && e !== '') || isMap(e);
}

function push(out: NodeOutput, text: string, rich: RichMessage | null): void {
  out.replies.push(text);
  if (rich || out.rich) {
    out.rich ??= out.replies.slice(0, -1).map(() => null);
    out.rich.push(rich);
  }
}

/** One message map of a list: its text (or a rich message's). */
function pushMessage(out: NodeOutput, m: Record<string, unknown>, where: string): void {
  const rich = richOf(m, where);
  const text = rich?.text ?? (typeof m.text === 'string' ? m.text : typeof m.message === 'string' ? m.message : undefined);
  if (text === undefined) throw new GreenticNodeError('invalid-output', `${where} returned a list with a map that has no "text"; ${EXPECTED}`);
  push(out, text, rich ?? null);
}

function richOf(m: Record<string, unknown>, where: string): RichMessage | undefined {
  try {
    return richMessageOf(m);
  } catch (e) {
    if (e instanceof RichMessageError) throw new GreenticNodeError('invalid-output', `${where} returned a message whose ${e.message}`);
    throw e;
  }
}

function fromMap(map: Record<string, unknown>, where: string): NodeOutput {
  const bad = (why: string) => new GreenticNodeError('invalid-output', `${where} returned a map whose ${why}`);
  const out: NodeOutput = { replies: [], next: { tag: 'proceed' } };
  const rich = richOf(map, where);
  if (Object.hasOwn(map, 'text')) {
    if (typeof map.text !== 'string') throw bad('"text" is not a text string');
    push(out, map.text, rich ?? null);
  } else if (typeof map.message === 'string') push(out, map.message, rich ?? null);
  else if (rich) push(out, rich.text, rich);
  if (Object.hasOwn(map, 'replies')) {
    if (!Array.isArray(map.replies) || map.replies.some((r) => typeof r !== 'string')) throw bad('"replies" is not a list of text strings');
    for (const r of map.replies as string[]) push(out, r, null);
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
  out.next = steps[0] ?? { tag: 'proceed' };
  return out;
}

function failure(value: unknown, where: string): GreenticNodeError {
  if (typeof value === 'string' && value !== '') return new GreenticNodeError('invocation-failed', value);
  if (isMap(value)) {
    const e = isMap(value.error) ? value.error : value;
    const code = typeof e.code === 'string' && e.code !== '' ? e.code : typeof value.code === 'string' && value.code !== '' ? value.code : 'invocation-failed';
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    const message = text(e.message) ?? text(value.message) ?? text(value.error) ?? `${where} answered ok: false`;
    return new GreenticNodeError(code.slice(0, 64), message, e.retryable === true || value.retryable === true);
  }
  return new GreenticNodeError('invocation-failed', `${where} answered ok: false`);
}

function describeValue(v: unknown): string {
  if (v instanceof Uint8Array) return 'a byte string';
  if (typeof v === 'bigint' || typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return `${v}`;
  return `a ${typeof v}`;
}
