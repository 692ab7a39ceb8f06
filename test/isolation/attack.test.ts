import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { attackOpArb } from '../support/attack-ops.js';
import { DoorTally, runBatch } from '../support/attack-doors.js';
import { CALM, slack, startAttackWorld, TENANTS, type AttackWorld, type Tenant } from '../support/attack-world.js';
import { startNatsAttackWorld, type NatsAttackWorld } from '../support/attack-nats.js';
import { CalmTenant, percentiles } from '../support/calm-tenant.js';
import { attackBudget, reportRun, type AttackBudget } from '../support/attack-budget.js';
import { LeakWatch, newMarker } from '../support/leak-watch.js';

// Random tenants attack each other through every door (guest capability calls with forged ctx
// fields, the REST API, the webchat, NATS publishes), while a calm tenant chats. One invariant:
// nothing of tenant B is read, changed, delayed past a bound, or revealed to tenant A.
process.env.GREENTIC_MASTER_KEY ??= 'cd'.repeat(32);

/** The calm tenant's latency under attack, against its own baseline taken between batches: generous ratios and a count, never a wall-clock figure. */
function expectCalm(calm: CalmTenant, budget: AttackBudget) {
  const base = percentiles(calm.quiet);
  const under = percentiles(calm.latencies);
  expect(calm.failures).toEqual([]);
  expect(calm.latencies.length).toBeGreaterThan(0);
  expect(under.p50, `calm p50 ${under.p50} ms vs baseline ${base.p50} ms`).toBeLessThan(budget.p50Ratio * base.p50);
  const slow = calm.latencies.filter((ms) => ms > budget.slowRatio * base.p99).length;
  expect(slow, `calm turns over ${budget.slowRatio}x its baseline p99 (${base.p99.toFixed(1)} ms)`).toBeLessThanOrEqual(
    Math.ceil(0.01 * calm.latencies.length),
  );
  return { baseline: base, under, turns: calm.latencies.length };
}

describe('the leak watch finds what it is for', () => {
  it("flags another tenant's marker or credential in an answer, and a secret in any log line", () => {
    const watch = new LeakWatch();
    const acmeMarker = newMarker('acme', 'S');
    watch.own('acme', [acmeMarker], ['acme-token']);
    watch.check('acme', `mine: ${acmeMarker} acme-token`, 'own answer');
    expect(watch.leakCount).toBe(0);
    watch.check('bigcorp', `{"x":"${acmeMarker}"}`, 'answer');
    watch.check(null, 'Bearer acme-token', 'anonymous answer');
    watch.logger.child({ tenant_id: 'acme' }).info({ value: 1 }, `logged ${acmeMarker}`);
    expect(watch.leaks).toEqual([
      `answer: bigcorp saw acme's marker ${acmeMarker}`,
      "anonymous answer: anonymous saw acme's credential",
      expect.stringMatching(new RegExp(`^a log line holds the secret ${acmeMarker}: `)),
    ]);
  });
});

describe('the host: guest capability calls, REST and webchat', () => {
  const budget = attackBudget('host');
  let w: AttackWorld;
  let calm: CalmTenant;
  const before = new Map<Tenant, string>();

  beforeAll(async () => {
    w = await startAttackWorld();
    for (const t of TENANTS) before.set(t, await w.snapshot(t));
    // Each calm turn writes its state and reads its secret and keys.
    const script = (n: number) =>
      JSON.stringify({
        calls: [
          { fn: 'state.set', args: ['n', String(n)] },
          { fn: 'secrets.get', args: ['api_key'] },
          { fn: 'state.list-keys', args: [] },
        ],
        next: 'wait',
      });
    calm = new CalmTenant(CALM, (n) => w.t.say(slack(CALM), 'calm', script(n)), w.watch);
    await calm.baseline(10, false); // warm-up: instances, sessions
    // A first baseline, so that a short run's median rests on more than its few batches; each batch adds to it.
    await calm.baseline(10);
  }, 300_000);
  afterAll(async () => {
    await w?.close();
  });

  it(
    `random attackers through every door never see, change or delay another tenant (${budget.ops} ops, seed ${budget.seed})`,
    async () => {
      const tally = new DoorTally();
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(fc.array(attackOpArb(w), { minLength: budget.batch, maxLength: budget.batch }), async (ops) => {
          // The calm tenant's baseline is taken between batches, its latency under attack during them.
          await calm.baseline(1);
          calm.start();
          try {
            await runBatch(w, ops, tally, budget.lanes);
          } finally {
            await calm.stop();
          }
          // Fail the run (and let fast-check print its seed) at the first batch that leaked or misbehaved.
          expect(w.watch.leaks).toEqual([]);
          expect(tally.violations).toEqual([]);
          if (tally.ops % 5000 === 0) console.log(`attack host: ${tally.ops} ops, ${Math.round((Date.now() - started) / 1000)} s, no leak`);
        }),
        { seed: budget.seed, numRuns: budget.runs, endOnFailure: true },
      );
      await w.t.host.sessions.flush();
      for (const t of TENANTS) expect(await w.snapshot(t), `${t}'s vault`).toBe(before.get(t));
      const calmResult = expectCalm(calm, budget);
      reportRun('host', {
        seed: budget.seed,
        ops: tally.ops,
        seconds: (Date.now() - started) / 1000,
        doors: tally.doors(),
        outcomes: Object.fromEntries(tally.counts),
        leaks: w.watch.leakCount,
        violations: tally.violations.length,
        scanned: w.watch.checked,
        ownSeen: w.watch.ownSeen,
        logLines: w.watch.logLines,
        calm: calmResult,
        slowest: tally.slowest,
      });
      expect(tally.ops).toBe(budget.runs * budget.batch);
      expect(Object.keys(tally.doors())).toEqual(['guest', 'rest', 'webchat']);
      // The scan saw real data: each calm turn reads its own secret.
      expect(w.watch.ownSeen).toBeGreaterThanOrEqual(calm.latencies.length);
      // Every tenant is still served after the run.
      for (const t of TENANTS) expect((await w.t.say(slack(t), 'after', JSON.stringify({ calls: [] }))).ok).toBe(true);
    },
    budget.timeoutMs,
  );
});

describe('NATS: a tenant account per tenant, publishes on random subjects by every bigcorp user', () => {
  const budget = attackBudget('nats');
  let n: NatsAttackWorld;
  let calm: CalmTenant;

  beforeAll(async () => {
    n = await startNatsAttackWorld();
    calm = new CalmTenant('acme', (i) => n.acmeTurn(i % 2 ? 'hello' : `my login fails ${i}`), n.watch);
    await calm.baseline(6, false);
    await calm.baseline(10);
  }, 300_000);
  afterAll(async () => {
    await n?.close();
  });

  it(
    `acme's data is unchanged, nothing of it reaches bigcorp, and acme is served on (${budget.ops} publishes, seed ${budget.seed})`,
    async () => {
      const before = await n.acmeVault();
      const started = Date.now();
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(n.opArb(), { minLength: budget.batch, maxLength: budget.batch }), async (ops) => {
          await calm.baseline(1);
          calm.start();
          try {
            sent += await n.publish(ops);
          } finally {
            await calm.stop();
          }
          expect(n.watch.leaks).toEqual([]);
        }),
        { seed: budget.seed, numRuns: budget.runs, endOnFailure: true },
      );
      // Let every answer the server sends the attackers arrive and be scanned.
      await new Promise((r) => setTimeout(r, 500));
      await Promise.all(n.attackers.map((c) => c.flush()));
      expect(n.watch.leaks).toEqual([]);
      expect(await n.acmeVault()).toBe(before);
      const calmResult = expectCalm(calm, budget);
      reportRun('nats', {
        seed: budget.seed,
        ops: budget.ops,
        sent,
        seconds: (Date.now() - started) / 1000,
        received: n.received(),
        leaks: n.watch.leakCount,
        scanned: n.watch.checked,
        logLines: n.watch.logLines,
        calm: calmResult,
      });
      expect(sent).toBeGreaterThan(budget.ops / 2);
      expect(n.received()).toBeGreaterThan(0);
    },
    budget.timeoutMs,
  );
});
