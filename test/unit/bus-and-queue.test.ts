import { describe, expect, it } from 'vitest';
import { EmbeddedBus } from '../../dist/messaging/embedded-bus.js';
import { FairQueue } from '../../dist/sandbox/fair-queue.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('the embedded bus', () => {
  it('delivers by NATS subject pattern, asynchronously', async () => {
    const bus = new EmbeddedBus();
    const got: string[] = [];
    bus.subscribe('greentic.messaging.ingress.*.acme.*.*', (m) => void got.push(m.subject));
    const sent = [
      bus.publish('greentic.messaging.ingress.prod.acme.support.slack', enc('x')),
      bus.publish('greentic.messaging.ingress.prod.bigcorp.helpdesk.webchat', enc('x')),
    ];
    expect(got).toEqual([]); // not yet: the publisher never runs subscriber code itself
    await Promise.all(sent);
    await bus.drain();
    expect(got).toEqual(['greentic.messaging.ingress.prod.acme.support.slack']);
  });

  it("shares a queue group's messages, each delivered once", async () => {
    const bus = new EmbeddedBus();
    const a: number[] = [];
    const b: number[] = [];
    bus.subscribe('x.*', () => void a.push(1), { queue: 'q' });
    bus.subscribe('x.*', () => void b.push(1), { queue: 'q' });
    for (let i = 0; i < 10; i++) await bus.publish(`x.${i}`, enc(''));
    await bus.drain();
    expect(a.length + b.length).toBe(10);
    expect(a.length).toBe(5);
  });

  it('refuses wildcards, whitespace and empty tokens in published subjects', async () => {
    const bus = new EmbeddedBus();
    for (const s of ['a.*', 'a.>', 'a b', 'a..b', '', 'a.']) await expect(bus.publish(s, enc(''))).rejects.toThrowError(/cannot publish/);
  });

  it('reports handler errors without failing the publisher', async () => {
    const errors: unknown[] = [];
    const bus = new EmbeddedBus((e) => errors.push(e));
    bus.subscribe('a', () => {
      throw new Error('boom');
    });
    await bus.publish('a', enc(''));
    await bus.drain();
    expect(errors).toHaveLength(1);
  });
});

describe('the fair queue', () => {
  it('serves tenants round-robin, whatever their queue lengths', () => {
    const q = new FairQueue<{ t: string; i: number }>(
      (j) => j.t,
      () => 100,
    );
    for (let i = 0; i < 5; i++) q.push({ t: 'a', i });
    q.push({ t: 'b', i: 0 });
    q.push({ t: 'c', i: 0 });
    const order = Array.from({ length: 7 }, () => q.next()!.t);
    expect(order).toEqual(['a', 'b', 'c', 'a', 'a', 'a', 'a']);
  });

  it('caps the calls one tenant runs at once', () => {
    const q = new FairQueue<{ t: string }>(
      (j) => j.t,
      (t, running) => running < (t === 'a' ? 1 : 2),
    );
    q.push({ t: 'a' });
    q.push({ t: 'a' });
    q.push({ t: 'b' });
    const first = q.next()!;
    expect(first.t).toBe('a');
    expect(q.next()!.t).toBe('b');
    expect(q.next()).toBeUndefined(); // a is at its limit
    q.done(first);
    expect(q.next()!.t).toBe('a');
  });
});
