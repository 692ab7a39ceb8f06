import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallAbort, CapabilityError } from '../../dist/capabilities/errors.js';
import { logImports } from '../../dist/capabilities/log/host.js';
import { messagingImports } from '../../dist/capabilities/messaging/host.js';
import { loggedField, MAX_DENIAL_LOGS_PER_CALL, MAX_LOGGED_FIELD } from '../../dist/capabilities/scope.js';
import { stateImports } from '../../dist/capabilities/state/host.js';
import { checkNodeOutput } from '../../dist/sandbox/node-output.js';
import { DEFAULT_LIMITS } from '../../dist/tenancy/model.js';
import { ACME_CTX, testScope } from '../support/scope.js';

const limits = (over: Partial<typeof DEFAULT_LIMITS>) => ({ perms: { limits: { ...DEFAULT_LIMITS, ...over } } });
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof CapabilityError) return e.payload.val;
    throw e;
  }
  throw new Error('expected a refusal');
};

describe('items are counted as well as bytes, per call and per turn', () => {
  it('sends past max_messages are refused and not counted', () => {
    const { scope, turn } = testScope(limits({ maxMessages: 3 }));
    const m = messagingImports(scope);
    for (let i = 0; i < 3; i++) m.send(ACME_CTX, 'slack', '');
    expect(refusal(() => m.send(ACME_CTX, 'slack', ''))).toBe('messaging.send: more than 3 messages in one component call');
    expect(scope.messages).toBe(3);
    expect(turn.outbox).toHaveLength(3);
  });

  it('the turn budget holds across the calls of one turn', () => {
    const first = testScope(limits({ maxTurnMessages: 4 }));
    for (let i = 0; i < 3; i++) messagingImports(first.scope).send(ACME_CTX, 'slack', 'x');
    // A second call of the same turn shares its tally.
    const second = testScope(limits({ maxTurnMessages: 4 }));
    second.turn.tally = first.turn.tally;
    messagingImports(second.scope).send(ACME_CTX, 'slack', 'x');
    expect(refusal(() => messagingImports(second.scope).send(ACME_CTX, 'slack', 'x'))).toBe('messaging.send: more than 4 messages in one turn');
  });

  it('replies are counted before their bytes are walked', () => {
    const { scope } = testScope(limits({ maxMessages: 10 }));
    const replies = new Array(300_000).fill('');
    expect(() => checkNodeOutput({ replies, next: { tag: 'proceed' } }, scope)).toThrow('component "probe" at node "n" produced more than 10 messages');
  });

  it('state keys and bytes are bounded; deleting gives room back', () => {
    const { scope } = testScope(limits({ maxStateKeys: 2, maxStateBytes: 10 }));
    const s = stateImports(scope);
    s.set(ACME_CTX, 'a', '1234');
    s.set(ACME_CTX, 'b', '12');
    expect(refusal(() => s.set(ACME_CTX, 'c', ''))).toBe('state.set: a session holds at most 2 keys');
    expect(refusal(() => s.set(ACME_CTX, 'b', '12345'))).toBe("state.set: a session's state holds at most 10 bytes (keys and values)");
    s.delete(ACME_CTX, 'a');
    s.set(ACME_CTX, 'b', '1234567');
    expect([...scope.turn.working]).toEqual([['b', '1234567']]);
  });

  it('log lines past the call budget are refused, and the cut is logged once', () => {
    const { scope, logs } = testScope(limits({ maxLogLines: 2 }));
    const log = logImports(scope);
    log.write(ACME_CTX, 'info', 'one');
    log.write(ACME_CTX, 'info', 'two');
    expect(refusal(() => log.write(ACME_CTX, 'info', 'three'))).toBe('log.write: the log budget of 2 lines in one component call is spent');
    expect(refusal(() => log.write(ACME_CTX, 'info', 'four'))).toBe('log.write: the log budget of 2 lines in one component call is spent');
    expect(logs.lines.filter((l) => l.event === 'guest-log').map((l) => l.msg)).toEqual(['one', 'two']);
    expect(logs.lines.filter((l) => l.event === 'guest-log-cut')).toHaveLength(1);
  });

  it('a guest that calls on far past its capability limit has its call ended', () => {
    const { scope } = testScope(limits({ maxCapabilityCalls: 3 }));
    const s = stateImports(scope);
    for (let i = 0; i < 3; i++) s.get(ACME_CTX, 'a');
    for (let i = 0; i < 27; i++) expect(refusal(() => s.get(ACME_CTX, 'a'))).toBe('state.get: more than 3 capability calls in one component call');
    expect(() => s.get(ACME_CTX, 'a')).toThrow(CallAbort);
  });
});

describe('denials are logged a bounded number of times, with the guest fields cut', () => {
  it(`at most ${MAX_DENIAL_LOGS_PER_CALL} denial lines per call, then one line; every denial is counted`, () => {
    const { scope, logs, stats } = testScope();
    const forged = { ...ACME_CTX, tenantId: 'x'.repeat(1_000_000), envId: { toString: () => 'y'.repeat(1_000_000) } };
    for (let i = 0; i < 1000; i++) refusal(() => stateImports(scope).get(forged, 'a'));
    const denials = logs.lines.filter((l) => l.event === 'access-denied');
    expect(denials).toHaveLength(MAX_DENIAL_LOGS_PER_CALL);
    expect(logs.lines.filter((l) => l.event === 'access-denied-suppressed')).toHaveLength(1);
    expect(denials[0]!.requested_scope).toBe(`${'x'.repeat(MAX_LOGGED_FIELD)}.../(object)/support`);
    expect(stats.denialCount).toBe(1000);
    expect(logs.text().length).toBeLessThan((MAX_DENIAL_LOGS_PER_CALL + 1) * 1024);
  });

  it('property: a logged field is never longer than the limit, whatever the guest passes', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        expect(loggedField(v).length).toBeLessThanOrEqual(MAX_LOGGED_FIELD + 3);
      }),
    );
  });
});
