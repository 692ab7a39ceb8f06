import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../dist/sandbox/fair-queue.js';
import { SPIN_OK } from '../../dist/sandbox/protocol.js';
import { TenantScheduler } from '../../dist/sandbox/scheduler.js';
import { MAX_SPIN_MS, WaitKind } from '../../dist/sandbox/waiting.js';

type Job = { tenant: string; n: number };

describe('the scheduler', () => {
  const make = (idle: () => number, workers = 2) =>
    new TenantScheduler<Job>((j) => j.tenant, { concurrency: () => undefined, rate: () => undefined, workers: () => workers, idle });

  it('a tenant alone may use every worker', () => {
    let idle = 2;
    const s = make(() => idle);
    s.push({ tenant: 'a', n: 1 });
    s.push({ tenant: 'a', n: 2 });
    expect(s.next()).toMatchObject({ n: 1 });
    idle = 1;
    expect(s.next()).toMatchObject({ n: 2 });
  });

  it('while another tenant waits, a tenant running work may not take the last idle worker', () => {
    const s = make(() => 1);
    s.push({ tenant: 'a', n: 1 });
    s.push({ tenant: 'a', n: 2 });
    expect(s.next()).toMatchObject({ tenant: 'a', n: 1 });
    s.push({ tenant: 'b', n: 1 });
    // a runs one already: the last idle worker goes to b.
    expect(s.next()).toMatchObject({ tenant: 'b', n: 1 });
  });

  it("a tenant's next job goes into a busy worker's second slot only while no other tenant waits", () => {
    const s = make(() => 0);
    s.push({ tenant: 'a', n: 1 });
    expect(s.nextOf('a')).toMatchObject({ n: 1 });
    s.push({ tenant: 'a', n: 2 });
    s.push({ tenant: 'b', n: 1 });
    expect(s.nextOf('a')).toBeUndefined();
  });

  it('a job that never started goes back to the front of its queue', () => {
    const q = new FairQueue<Job>(
      (j) => j.tenant,
      () => true,
    );
    q.push({ tenant: 'a', n: 1 });
    q.push({ tenant: 'b', n: 1 });
    const first = q.next()!;
    q.requeue(first);
    expect(q.running('a')).toBe(0);
    expect(q.next()).toBe(first);
  });

  it('property: round-robin stays fair, and nothing is lost or served twice', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 200 }), (tenants) => {
        const q = new FairQueue<Job>(
          (j) => j.tenant,
          () => true,
        );
        tenants.forEach((tenant, n) => q.push({ tenant, n }));
        const served: Job[] = [];
        for (let j = q.next(); j; j = q.next()) served.push(j);
        expect(served.map((j) => j.n).sort((x, y) => x - y)).toEqual(tenants.map((_, n) => n));
        // In any prefix, no tenant with work left is more than one turn behind another.
        const counts = new Map<string, number>();
        const total = new Map<string, number>();
        for (const t of tenants) total.set(t, (total.get(t) ?? 0) + 1);
        for (const j of served) {
          counts.set(j.tenant, (counts.get(j.tenant) ?? 0) + 1);
          for (const [t, n] of total) {
            const c = counts.get(t) ?? 0;
            if (c < n) expect(counts.get(j.tenant)! - c).toBeLessThanOrEqual(1);
          }
        }
      }),
    );
  });
});

describe('waiting adapts', () => {
  it('never spins while no core is idle, and spins at most MAX_SPIN_MS when one is and waits have been short', () => {
    const pressure = new Int32Array(new SharedArrayBuffer(8));
    const w = new WaitKind(pressure);
    expect(w.spinMs()).toBe(0);
    Atomics.store(pressure, SPIN_OK, 1);
    for (let i = 0; i < 20; i++) w.took(0.01, 0);
    expect(w.spinMs()).toBeGreaterThan(0);
    expect(w.spinMs()).toBeLessThanOrEqual(MAX_SPIN_MS);
    // Long waits lately: sleep at once.
    for (let i = 0; i < 20; i++) w.took(50, 0);
    expect(w.spinMs()).toBe(0);
  });
});
