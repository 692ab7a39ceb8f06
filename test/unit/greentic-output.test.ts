import { describe, expect, it } from 'vitest';
import { cborBytesToJson, decodeCbor, encodeCbor } from '../../dist/greentic/cbor.js';
import { greenticCtx, invocationEnvelope, nodePayload } from '../../dist/greentic/envelope.js';
import { GreenticNodeError, nodeOutputFromResult } from '../../dist/greentic/output.js';
import { ACME_CTX } from '../support/scope.js';

const WHERE = 'component "g" (op "o")';
const result = (value: unknown, ok = true) => ({ ok, outputCbor: value === undefined ? new Uint8Array() : encodeCbor(value), outputMetadataCbor: undefined });
const out = (value: unknown) => nodeOutputFromResult(result(value), WHERE);
/** The node error a result maps to, as { code, message, retryable }. */
function failure(r: { ok: boolean; outputCbor: Uint8Array; outputMetadataCbor: undefined }) {
  try {
    nodeOutputFromResult(r, WHERE);
  } catch (e) {
    if (e instanceof GreenticNodeError) return e.payload;
    throw e;
  }
  throw new Error('expected a node error');
}

describe('a Greentic output becomes replies and a next step', () => {
  it('maps text, lists and maps', () => {
    expect(out(undefined)).toEqual({ replies: [], next: { tag: 'proceed' } });
    expect(out(null)).toEqual({ replies: [], next: { tag: 'proceed' } });
    expect(out('hello')).toEqual({ replies: ['hello'], next: { tag: 'proceed' } });
    expect(out(['a', 'b'])).toEqual({ replies: ['a', 'b'], next: { tag: 'proceed' } });
    expect(out({ text: 'a', replies: ['b', 'c'], route: 'billing' })).toEqual({ replies: ['a', 'b', 'c'], next: { tag: 'route', val: 'billing' } });
    expect(out({ text: 'one moment', wait: true })).toEqual({ replies: ['one moment'], next: { tag: 'wait' } });
    expect(out({ text: 'bye', end: true, wait: false })).toEqual({ replies: ['bye'], next: { tag: 'end' } });
    // A component's own data (Greentic components mostly return data) is no reply: on to `next`.
    expect(out({ slots: [{ name: 'city' }], filled: ['city'] })).toEqual({ replies: [], next: { tag: 'proceed' } });
  });

  it('refuses what it cannot map, saying what was expected', () => {
    const expected = 'expected a text string, a list of text strings, or a map with text, replies, route, wait or end';
    expect(failure(result(42))).toEqual({ code: 'invalid-output', message: `${WHERE} returned a number; ${expected}`, retryable: false });
    expect(failure(result(true)).message).toBe(`${WHERE} returned true; ${expected}`);
    expect(failure(result(new Uint8Array([1]))).message).toBe(`${WHERE} returned a byte string; ${expected}`);
    expect(failure(result(['a', 1])).message).toBe(`${WHERE} returned a list that is not all text strings; ${expected}`);
    expect(failure(result({ text: 7 })).message).toBe(`${WHERE} returned a map whose "text" is not a text string`);
    expect(failure(result({ replies: 'x' })).message).toBe(`${WHERE} returned a map whose "replies" is not a list of text strings`);
    expect(failure(result({ route: '' })).message).toBe(`${WHERE} returned a map whose "route" is not a route label`);
    expect(failure(result({ wait: 'yes' })).message).toBe(`${WHERE} returned a map whose "wait" is not true or false`);
    expect(failure(result({ route: 'a', end: true })).message).toBe(`${WHERE} returned a map whose next step is ambiguous (route and end)`);
    expect(failure({ ok: true, outputCbor: new Uint8Array([0x61]), outputMetadataCbor: undefined }).message).toMatch(
      /^component "g" \(op "o"\) returned output-cbor that is not CBOR: /,
    );
  });

  it('ok: false is a node error, with the code and message the output gives', () => {
    expect(failure(result({ code: 'declined', message: 'no thanks', retryable: true }, false))).toEqual({
      code: 'declined',
      message: 'no thanks',
      retryable: true,
    });
    expect(failure(result('quota used up', false))).toEqual({ code: 'invocation-failed', message: 'quota used up', retryable: false });
    expect(failure(result(undefined, false))).toEqual({ code: 'invocation-failed', message: `${WHERE} answered ok: false`, retryable: false });
  });
});

describe('what a Greentic component receives', () => {
  const call = { flow: 'acme_support_flow', component: 'slots', deadlineAt: 1_800_000_000_123.4 };

  it('the envelope comes from the bound ctx: ids, session as correlation id, absolute deadline', () => {
    const env = invocationEnvelope(ACME_CTX, call, 'greet', encodeCbor({ a: 1 }));
    expect(env).toMatchObject({ flowId: 'acme_support_flow', stepId: 'greet', componentId: 'slots', attempt: 0, metadataCbor: undefined });
    expect(env.ctx).toEqual({
      tenantId: 'acme',
      teamId: 'support',
      userId: 'u1',
      envId: 'prod',
      traceId: '0'.repeat(32),
      correlationId: 's1',
      deadlineMs: 1_800_000_000_123n,
      attempt: 0,
      idempotencyKey: expect.stringMatching(/^[0-9a-f]{32}$/),
      i18nId: 'en',
    });
    // The same step of the same turn has the same key; another step, another key.
    expect(greenticCtx(ACME_CTX, call, 'greet').idempotencyKey).toBe(env.ctx.idempotencyKey);
    expect(greenticCtx(ACME_CTX, call, 'ask').idempotencyKey).not.toBe(env.ctx.idempotencyKey);
  });

  it('the payload is { message, config without op, resumed, locale }; config.op picks the op', () => {
    const input = { nodeId: 'n', message: { text: 'hi', userId: 'u1', channel: 'slack' }, config: '{"op":"route","route":"x"}', resumed: true };
    const locale = { language: 'fr-CA', timezone: 'America/Toronto' };
    expect(nodePayload(input, locale)).toEqual({
      op: 'route',
      payload: { message: { text: 'hi', user: 'u1', channel: 'slack' }, config: { route: 'x' }, resumed: true, locale },
    });
    expect(nodePayload(input, undefined).payload.locale).toEqual({ language: 'en', timezone: 'UTC' });
    expect(nodePayload({ ...input, config: '{}' }, locale).op).toBeUndefined();
    expect(() => nodePayload({ ...input, config: '{"op":3}' }, locale)).toThrow('node "n": config.op must be the name of an op, got 3');
  });

  it("the ctx's i18n-id is the tenant's language, or en when it names none", () => {
    const call = { flow: 'f', component: 'gjs', deadlineAt: 1 };
    expect(greenticCtx(ACME_CTX, { ...call, locale: { language: 'de-CH', timezone: 'Europe/Zurich' } }, 's').i18nId).toBe('de-CH');
    expect(greenticCtx(ACME_CTX, call, 's').i18nId).toBe('en');
  });

  it('CBOR is plain RFC 8949: big whole numbers stay integers, bytes and bigints reach JSON', () => {
    const bytes = encodeCbor({ n: 2 ** 40, f: 1.5, s: 'x' });
    expect(bytes[0]).toBe(0xa3); // a map of 3, not cbor-x's record extension
    expect([...bytes.subarray(3, 12)]).toEqual([0x1b, 0, 0, 1, 0, 0, 0, 0, 0]); // uint64, not a float
    expect(decodeCbor(bytes)).toEqual({ n: 2n ** 40n, f: 1.5, s: 'x' });
    expect(cborBytesToJson(encodeCbor({ big: 2 ** 40, raw: new Uint8Array([1, 2]) }))).toEqual({ big: 2 ** 40, raw: { $bytes: 'AQI=' } });
    expect(cborBytesToJson(new Uint8Array([0xff]))).toEqual({ $bytes: '/w==' });
    expect(decodeCbor(new Uint8Array())).toBeUndefined();
  });
});
