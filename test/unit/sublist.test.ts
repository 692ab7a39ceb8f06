import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sublist } from '../../dist/messaging/sublist.js';
import { subjectMatches } from '../../dist/messaging/subjects.js';
import { EmbeddedBus } from '../../dist/messaging/embedded-bus.js';
import { PROTOTYPE_NAMES } from '../support/prototype-names.js';

// Few distinct tokens, so that patterns and subjects meet often; prototype names as tokens too.
const token = fc.constantFrom('a', 'b', 'acme', 'prod', ...PROTOTYPE_NAMES.slice(0, 4));
const subject = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join('.'));
const pattern = fc
  .array(fc.oneof({ weight: 4, arbitrary: token }, { weight: 2, arbitrary: fc.constant('*') }, { weight: 1, arbitrary: fc.constant('>') }), {
    minLength: 1,
    maxLength: 5,
  })
  .map((t) => t.join('.'));

type Op = { kind: 'add'; pattern: string } | { kind: 'remove'; index: number } | { kind: 'match'; subject: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: pattern.map((p) => ({ kind: 'add' as const, pattern: p })) },
  { weight: 2, arbitrary: fc.nat(40).map((index) => ({ kind: 'remove' as const, index })) },
  { weight: 3, arbitrary: subject.map((s) => ({ kind: 'match' as const, subject: s })) },
);

describe('the sublist (subscriptions indexed by subject token)', () => {
  it('matches exactly what subjectMatches() matches, in insertion order, through any sequence of adds and removes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const list = new Sublist<number>();
        const live: Array<{ id: number; pattern: string }> = [];
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            list.add(o.pattern, next);
            live.push({ id: next++, pattern: o.pattern });
          } else if (o.kind === 'remove') {
            if (live.length === 0) {
              expect(list.remove(-1)).toBe(false);
              continue;
            }
            const [gone] = live.splice(o.index % live.length, 1);
            expect(list.remove(gone!.id)).toBe(true);
            expect(list.remove(gone!.id)).toBe(false);
          } else {
            const want = live.filter((s) => subjectMatches(s.pattern, o.subject)).map((s) => s.id);
            expect(list.match(o.subject)).toEqual(want);
          }
          expect(list.size).toBe(live.length);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps nothing of removed subscriptions: re-adding after removing all matches as new', () => {
    const list = new Sublist<string>();
    for (let i = 0; i < 1000; i++) list.add(`greentic.messaging.egress.prod.t${i}.team.c`, `s${i}`);
    for (let i = 0; i < 1000; i++) list.remove(`s${i}`);
    expect(list.size).toBe(0);
    expect(list.match('greentic.messaging.egress.prod.t1.team.c')).toEqual([]);
    list.add('greentic.>', 'x');
    expect(list.match('greentic.messaging.egress.prod.t1.team.c')).toEqual(['x']);
  });
});

describe('the embedded bus with many tenants', () => {
  it("delivers each tenant's message to that tenant's subscription only, with 5,000 tenants subscribed", async () => {
    const bus = new EmbeddedBus();
    const got = new Map<string, string[]>();
    const tenants = Array.from({ length: 5000 }, (_, i) => `t${i}`);
    for (const t of tenants) bus.subscribe(`greentic.messaging.ingress.*.${t}.*.*`, (m) => void got.set(t, [...(got.get(t) ?? []), m.subject]), { queue: 'q' });
    for (const t of tenants) await bus.publish(`greentic.messaging.ingress.prod.${t}.team.c`, new Uint8Array(0));
    await bus.drain();
    expect(got.size).toBe(5000);
    for (const t of tenants) expect(got.get(t)).toEqual([`greentic.messaging.ingress.prod.${t}.team.c`]);
    await bus.close();
  });
});
