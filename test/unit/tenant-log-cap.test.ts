import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger, tenantCapFromEnv, tenantLogCapOf } from '../../dist/observability/logger.js';
import { HostMetrics } from '../../dist/observability/metrics.js';
import { TenantLogCap } from '../../dist/observability/tenant-log-cap.js';

/** A capped logger writing into memory, with a clock the test moves. */
function cappedLogger(limits: { lines?: number; bytes?: number; intervalMs?: number }) {
  const out: string[] = [];
  const clock = { now: 0 };
  const cap = new TenantLogCap({ write: (l: string) => void out.push(l) } as never, limits, () => clock.now);
  const logger = createLogger({ level: 'info', destination: cap as never });
  const lines = () => out.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, cap, clock, out, lines };
}

describe('the per-tenant log cap', () => {
  it("a hostile tenant's flood is cut at its cap and reported; a calm tenant and the host lose nothing", () => {
    const { logger, clock, out, lines } = cappedLogger({ lines: 100, bytes: 1_000_000, intervalMs: 10_000 });
    const hostile = logger.child({ tenant_id: 'hostile', env_id: 'prod' });
    const calm = logger.child({ tenant_id: 'calm', env_id: 'prod' });
    for (let i = 0; i < 20_000; i++) {
      hostile.info({ event: 'guest-log' }, `flood ${i} ${'x'.repeat(200)}`);
      if (i % 400 === 0) calm.info({ event: 'turn' }, `calm ${i / 400}`);
      if (i % 1000 === 0) logger.info({ event: 'host' }, `host ${i / 1000}`);
    }
    clock.now = 10_000;
    hostile.info('first line of the next interval');
    const all = lines();
    expect(all.filter((l) => l.tenant_id === 'calm').map((l) => l.msg)).toEqual(Array.from({ length: 50 }, (_, i) => `calm ${i}`));
    expect(all.filter((l) => l.event === 'host')).toHaveLength(20);
    expect(all.filter((l) => l.event === 'guest-log')).toHaveLength(100);
    expect(all.filter((l) => l.event === 'log-dropped')).toEqual([
      expect.objectContaining({ level: 40, tenant_id: 'hostile', lines: 19_900, interval_ms: 10_000, limits: { lines: 100, bytes: 1_000_000 } }),
    ]);
    expect(all.at(-1)).toMatchObject({ tenant_id: 'hostile', msg: 'first line of the next interval' });
    // 20,000 lines of ~330 bytes came in; about 100 of them went out.
    expect(out.join('').length).toBeLessThan(100_000);
  });

  it('caps bytes as well as lines', () => {
    const { logger, lines } = cappedLogger({ lines: 1_000_000, bytes: 10_000, intervalMs: 10_000 });
    const t = logger.child({ tenant_id: 'big' });
    for (let i = 0; i < 100; i++) t.info('y'.repeat(1000));
    const passed = lines().filter((l) => l.tenant_id === 'big' && l.event !== 'log-dropped');
    expect(passed.length).toBeGreaterThan(5);
    expect(passed.length).toBeLessThan(10);
  });

  it('a message cannot pose as another tenant: the quote in its text is escaped', () => {
    const { logger, cap } = cappedLogger({ lines: 5 });
    const hostile = logger.child({ tenant_id: 'hostile' });
    for (let i = 0; i < 50; i++) hostile.info(`","tenant_id":"calm","x":"`);
    for (let i = 0; i < 50; i++) hostile.info({ note: '"tenant_id":"calm"' }, 'x');
    expect([...cap.droppedTotals()]).toEqual([['hostile', { lines: 95, bytes: expect.any(Number) }]]);
  });

  it('any mix of tenants: one that stays within its cap never loses a line, whatever the others do', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.nat(300)), { maxLength: 400 }), fc.nat(30), (writes, calmLines) => {
        const { logger, lines } = cappedLogger({ lines: 40, bytes: 1_000_000, intervalMs: 1_000_000 });
        const calm = logger.child({ tenant_id: 'calm' });
        const others = new Map(['a', 'b', 'c', 'd'].map((t) => [t, logger.child({ tenant_id: t })]));
        let c = 0;
        writes.forEach(([t, len], i) => {
          others.get(t)!.info('z'.repeat(len));
          if (i % 7 === 0 && c < calmLines) calm.info(`calm ${c++}`);
        });
        while (c < calmLines) calm.info(`calm ${c++}`);
        expect(lines().filter((l) => l.tenant_id === 'calm')).toHaveLength(calmLines);
        for (const t of ['a', 'b', 'c', 'd']) expect(lines().filter((l) => l.tenant_id === t && l.event !== 'log-dropped').length).toBeLessThanOrEqual(40);
      }),
      { numRuns: 100 },
    );
  });

  it("the drops are in the host's metrics, per tenant", async () => {
    const { logger } = cappedLogger({ lines: 3 });
    const metrics = new HostMetrics();
    const cap = tenantLogCapOf(logger)!;
    metrics.trackLogDrops(() => cap.droppedTotals());
    for (let i = 0; i < 10; i++) logger.child({ tenant_id: 'noisy' }).info('n');
    expect(await metrics.registry.metrics()).toContain('greentic_log_lines_dropped_total{tenant="noisy"} 7');
  });

  it('serve reads its cap from the environment; a bad value is named', () => {
    expect(tenantCapFromEnv({})).toEqual({ lines: 1000, bytes: 524288, intervalMs: 10_000 });
    expect(tenantCapFromEnv({ GREENTIC_LOG_TENANT_LINES: '50', GREENTIC_LOG_TENANT_BYTES: '0' })).toEqual({
      lines: 50,
      bytes: Number.MAX_SAFE_INTEGER,
      intervalMs: 10_000,
    });
    expect(() => tenantCapFromEnv({ GREENTIC_LOG_TENANT_LINES: '1e9' })).toThrowError(
      'GREENTIC_LOG_TENANT_LINES must be a whole number (0 for no cap), got "1e9"',
    );
    expect(tenantLogCapOf(createLogger({ destination: { write: () => true } as never }))).toBeUndefined();
  });
});
