import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRecord, makeRecord, MAX_RECORD_BYTES, type AuditInput } from '../../dist/audit/audit-record.js';
import { AuditTrail } from '../../dist/audit/audit-trail.js';
import { FileAuditStore } from '../../dist/audit/file-audit-store.js';
import { tempDir } from '../support/bundle.js';
import { FaultyFs } from '../support/fault-fs.js';
import { memoryLogger } from '../support/logs.js';

const dirs: Array<{ cleanup(): void }> = [];
const fresh = () => {
  const d = tempDir('greentic-audit-');
  dirs.push(d);
  return d.dir;
};
afterAll(() => dirs.forEach((d) => d.cleanup()));

const input = (over: Partial<AuditInput> = {}): AuditInput => ({
  tenant: 'acme',
  actor: 'cli',
  action: 'secret.set',
  target: 'secret:acme/k',
  outcome: 'ok',
  ...over,
});
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

async function readAll(store: FileAuditStore, tenant: string, limit = 1000) {
  const out = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await store.read(tenant, { cursor, limit });
    out.push(...page.records);
    if (page.next === null) return out;
    cursor = page.next;
  }
}

describe('audit records', () => {
  it('are bounded and one line whatever the fields hold, and name only grammar ids', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 3000 }),
        fc.string({ unit: 'binary', maxLength: 3000 }),
        fc.string({ maxLength: 80 }),
        (actor, detail, env) => {
          const line = encodeRecord(makeRecord(input({ actor, detail, target: detail, env, team: actor }), T0));
          expect(line.length).toBeLessThanOrEqual(MAX_RECORD_BYTES);
          expect(line.indexOf(0x0a)).toBe(line.length - 1);
          const back = JSON.parse(line.toString('utf8'));
          if (back.env !== undefined) expect(back.env).toMatch(/^[a-z0-9][a-z0-9_-]{0,62}$/);
          if (back.team !== undefined) expect(back.team).toMatch(/^[a-z0-9][a-z0-9_-]{0,62}$/);
        },
      ),
    );
    expect(() => makeRecord(input({ tenant: '../bigcorp' }), T0)).toThrow(
      'invalid tenant id "../bigcorp" in audit record: it contains "."; ids match ^[a-z0-9][a-z0-9_-]{0,62}$',
    );
    expect(() => makeRecord(input({ action: 'secret.steal' as never }), T0)).toThrow('unknown audit action "secret.steal"');
    // Counts keep numbers under plain keys only (a `__proto__` key is not one).
    const r = makeRecord(input({ counts: JSON.parse('{"__proto__": 5, "sessions": 2, "x": "y"}') }), T0);
    expect(r.counts).toEqual({ sessions: 2 });
  });
});

describe('the file audit store', () => {
  it('appends, pages with a cursor, filters by time, and keeps each tenant in its own file', async () => {
    const dir = fresh();
    const store = new FileAuditStore(dir);
    await store.append(
      'acme',
      [0, 1, 2, 3, 4].map((i) => makeRecord(input({ target: `t${i}` }), T0 + i * 1000)),
    );
    await store.append('bigcorp', [makeRecord(input({ tenant: 'bigcorp', target: 'theirs' }), T0)]);
    const p1 = await store.read('acme', { limit: 2 });
    expect(p1.records.map((r) => r.target)).toEqual(['t0', 't1']);
    const p2 = await store.read('acme', { limit: 2, cursor: p1.next! });
    expect(p2.records.map((r) => r.target)).toEqual(['t2', 't3']);
    const p3 = await store.read('acme', { limit: 2, cursor: p2.next! });
    expect(p3).toEqual({ records: [expect.objectContaining({ target: 't4' })], next: null });
    expect((await store.read('acme', { limit: 10, since: T0 + 3000 })).records.map((r) => r.target)).toEqual(['t3', 't4']);
    expect((await readAll(store, 'bigcorp')).map((r) => r.target)).toEqual(['theirs']);
    expect(readdirSync(join(dir, 'audit')).sort()).toEqual(['acme', 'bigcorp']);
    expect(statSync(join(dir, 'audit', 'acme', '0000000001.ndjson')).mode & 0o777).toBe(0o600);
    await expect(store.read('acme', { limit: 1, cursor: '1-0/../..' })).rejects.toThrow('cursor "1-0/../.." is not one this API gave');
    await expect(store.append('../etc', [])).resolves.toBeUndefined();
    await expect(store.read('../etc', { limit: 1 })).rejects.toThrow(
      'invalid tenant id "../etc" in audit log: it contains "."; ids match ^[a-z0-9][a-z0-9_-]{0,62}$',
    );
  });

  it("never returns another tenant's records, whatever the interleaving (generated)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('acme', 'bigcorp', 'cee'), fc.string({ maxLength: 40 })), { minLength: 1, maxLength: 30 }),
        async (ops) => {
          const store = new FileAuditStore(fresh(), { segmentBytes: 600, keepSegments: 1000 });
          for (const [tenant, target] of ops) await store.append(tenant, [makeRecord(input({ tenant, target }), T0)]);
          for (const tenant of ['acme', 'bigcorp', 'cee']) {
            const got = await readAll(store, tenant, 3);
            expect(got.map((r) => r.target)).toEqual(ops.filter(([t]) => t === tenant).map(([, target]) => makeRecord(input({ target }), T0).target));
            expect(got.every((r) => r.tenant === tenant)).toBe(true);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('rotates by size and keeps a bounded number of segments', async () => {
    const dir = fresh();
    const store = new FileAuditStore(dir, { segmentBytes: 1000, keepSegments: 3 });
    for (let i = 0; i < 60; i++) await store.append('acme', [makeRecord(input({ target: `t${i}` }), T0 + i)]);
    const files = readdirSync(join(dir, 'audit', 'acme')).sort();
    expect(files).toHaveLength(3);
    for (const f of files) expect(statSync(join(dir, 'audit', 'acme', f)).size).toBeLessThanOrEqual(1000);
    const kept = await readAll(store, 'acme');
    // The newest records are kept, in order; the oldest went with their segments.
    expect(kept.at(-1)!.target).toBe('t59');
    expect(kept.map((r) => Number(r.target.slice(1)))).toEqual(kept.map((_, i) => 60 - kept.length + i));
  });

  it('survives short writes, a full disk and a failing fsync: a failed append rejects, a torn line is skipped', async () => {
    const dir = fresh();
    const fs = new FaultyFs();
    const store = new FileAuditStore(dir, { fs });
    fs.maxWriteBytes = 7;
    await store.append('acme', [makeRecord(input({ target: 'short' }), T0)]);
    expect(fs.calls.shortWrites).toBeGreaterThan(0);
    fs.heal();
    fs.spaceLeft = 30;
    await expect(store.append('acme', [makeRecord(input({ target: 'torn' }), T0)])).rejects.toThrow('ENOSPC');
    fs.heal();
    fs.syncError = 'EIO';
    await expect(store.append('acme', [makeRecord(input({ target: 'unsynced' }), T0)])).rejects.toThrow('EIO: injected fault, fdatasync');
    fs.heal();
    await store.append('acme', [makeRecord(input({ target: 'after' }), T0)]);
    const text = readFileSync(join(dir, 'audit', 'acme', '0000000001.ndjson'), 'utf8');
    expect(text.split('\n').filter((l) => l.length > 0)).toHaveLength(4);
    // The torn line is not a record; the one whose fsync failed was written (only its durability was in doubt).
    expect((await readAll(store, 'acme')).map((r) => r.target)).toEqual(['short', 'unsynced', 'after']);
  });
});

describe('the audit trail', () => {
  it('rate-limits denials per tenant and writes one summary of what it dropped', async () => {
    let now = T0;
    const metrics = new Registry();
    const store = new FileAuditStore(fresh());
    const trail = new AuditTrail({ store, logger: memoryLogger().logger, metrics, denialsPerWindow: 3, windowMs: 60_000, now: () => now });
    const deny = (tenant: string) => trail.record(input({ tenant, action: 'access.denied', outcome: 'denied', target: 'capability:secrets.get' }));
    for (let i = 0; i < 10; i++) deny('acme');
    deny('bigcorp');
    trail.record(input());
    await trail.flush();
    expect((await readAll(store, 'acme')).map((r) => r.action)).toEqual(['access.denied', 'access.denied', 'access.denied', 'secret.set']);
    // The next window: its first denial brings the summary of the one before.
    now += 60_000;
    deny('acme');
    await trail.flush();
    const acme = await readAll(store, 'acme');
    expect(acme.slice(4).map((r) => [r.action, r.outcome, r.counts])).toEqual([
      ['audit.dropped', 'dropped', { rate_limited: 7 }],
      ['access.denied', 'denied', undefined],
    ]);
    expect((await readAll(store, 'bigcorp')).map((r) => r.action)).toEqual(['access.denied']);
    expect(await metrics.getSingleMetricAsString('greentic_audit_dropped_total')).toContain(
      'greentic_audit_dropped_total{tenant="acme",reason="rate_limited"} 7',
    );
    await trail.close();
  });

  it('counts and logs a full disk once, never throws, and writes again (with a summary) when space is back', async () => {
    const fs = new FaultyFs();
    const store = new FileAuditStore(fresh(), { fs });
    const logs = memoryLogger();
    const metrics = new Registry();
    const trail = new AuditTrail({ store, logger: logs.logger, metrics });
    fs.spaceLeft = 0;
    for (let i = 0; i < 5; i++) {
      trail.record(input({ target: `lost${i}` }));
      await trail.flush();
    }
    const failed = logs.lines.filter((l) => l.event === 'audit-write-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ tenant_id: 'acme', problem: 'disk-full', lost: 1 });
    expect(await metrics.getSingleMetricAsString('greentic_audit_write_failures_total')).toContain(
      'greentic_audit_write_failures_total{tenant="acme",problem="disk-full"} 5',
    );
    fs.heal();
    trail.record(input({ target: 'back' }));
    await trail.flush();
    expect((await readAll(store, 'acme')).map((r) => [r.target, r.counts])).toEqual([
      ['back', undefined],
      ['audit', { write_failed: 5 }],
    ]);
    expect(logs.lines.filter((l) => l.event === 'audit-write-recovered')).toHaveLength(1);
    // A malformed event is logged and dropped, never thrown at the caller.
    expect(() => trail.record(input({ tenant: 'Not An Id' }))).not.toThrow();
    expect(logs.lines.at(-1)).toMatchObject({
      event: 'audit-record-invalid',
      err: 'invalid tenant id "Not An Id" in audit record: it has upper-case letters; ids are lower case (^[a-z0-9][a-z0-9_-]{0,62}$)',
    });
    await trail.close();
  });
});
