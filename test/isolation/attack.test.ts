import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { attackOpArb } from '../support/attack-ops.js';
import { DoorTally, runBatch } from '../support/attack-doors.js';
import { CALM, slack, startAttackWorld, TENANTS, type AttackWorld, type Tenant } from '../support/attack-world.js';
import { CalmTenant, percentiles } from '../support/calm-tenant.js';
import { attackBudget, reportRun } from '../support/attack-budget.js';

// Random tenants attack each other through every door of one host (guest capability calls with
// forged ctx fields, the REST API, the webchat), while a calm tenant chats. One invariant: nothing
// of tenant B is read, changed, delayed past a bound, or revealed to tenant A.
const budget = attackBudget('host');
let w: AttackWorld;
let calm: CalmTenant;
const before = new Map<Tenant, string>();

beforeAll(async () => {
  w = await startAttackWorld();
  for (const t of TENANTS) before.set(t, await w.snapshot(t));
  calm = new CalmTenant(w.t, slack(CALM), w.watch);
  await calm.baseline(10, false); // warm-up: instances, sessions
}, 120_000);
afterAll(async () => {
  await w?.close();
});

describe(`property: random tenants through every door (${budget.ops} ops, seed ${budget.seed})`, () => {
  it(
    'no tenant sees, changes or delays another',
    async () => {
      const tally = new DoorTally();
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(fc.array(attackOpArb(w), { minLength: budget.batch, maxLength: budget.batch }), async (ops) => {
          // The calm tenant's baseline is taken between batches, its latency under attack during them.
          await calm.baseline(2);
          calm.start();
          try {
            await runBatch(w, ops, tally);
          } finally {
            await calm.stop();
          }
          // Fail the run (and let fast-check print its seed) at the first batch that leaked or misbehaved.
          expect(w.watch.leaks).toEqual([]);
          expect(tally.violations).toEqual([]);
        }),
        { seed: budget.seed, numRuns: budget.runs, endOnFailure: true, verbose: 1 },
      );
      await w.t.host.sessions.flush();
      for (const t of TENANTS) expect(await w.snapshot(t), `${t}'s vault`).toBe(before.get(t));
      expect(calm.failures).toEqual([]);
      const base = percentiles(calm.quiet);
      const under = percentiles(calm.latencies);
      reportRun('host', {
        seed: budget.seed,
        ops: tally.ops,
        seconds: (Date.now() - started) / 1000,
        doors: tally.doors(),
        leaks: w.watch.leakCount,
        checked: w.watch.checked,
        logLines: w.watch.logLines,
        calm: { baseline: base, under, turns: calm.latencies.length },
        slowest: tally.slowest,
      });
      expect(tally.ops).toBe(budget.runs * budget.batch);
      expect(Object.keys(tally.doors())).toEqual(['guest', 'rest', 'webchat']);
      // Delay: relative to its own baseline, with a generous ratio and a count of slow turns (never a wall-clock figure).
      expect(calm.latencies.length).toBeGreaterThan(0);
      expect(under.p50, `calm p50 ${under.p50} vs baseline ${base.p50}`).toBeLessThan(budget.p50Ratio * base.p50);
      const slow = calm.latencies.filter((ms) => ms > budget.slowRatio * base.p99).length;
      expect(slow, `calm turns over ${budget.slowRatio}x baseline p99 (${base.p99.toFixed(1)} ms)`).toBeLessThanOrEqual(
        Math.ceil(0.01 * calm.latencies.length),
      );
      // Every tenant is still served after the run.
      for (const t of TENANTS) expect((await w.t.say(slack(t), 'after', JSON.stringify({ calls: [] }))).ok).toBe(true);
    },
    budget.timeoutMs,
  );
});
