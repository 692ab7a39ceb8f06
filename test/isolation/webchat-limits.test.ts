import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { clientKey, MIN_SESSION_BYTES, WebchatGuard } from '../../dist/messaging/providers/webchat-limits.js';
import { RecencyList } from '../../dist/messaging/providers/recency-list.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { DEFAULT_WEBCHAT_LIMITS, type WebchatLimits } from '../../dist/tenancy/model.js';
import { copyExamples, writeFiles } from '../support/bundle.js';
import { startHost, type TestHost } from '../support/host.js';

const A = { tenant: 'bigcorp', env: 'prod', team: 'helpdesk', channel: 'webchat' };
const limits = (over: Partial<WebchatLimits> = {}): WebchatLimits => ({ ...DEFAULT_WEBCHAT_LIMITS, ...over });

/** A guard on a clock the test moves. */
function guard() {
  let now = 1_000_000;
  return { g: new WebchatGuard(() => now), tick: (ms: number) => (now += ms) };
}

describe('the recency list the guard keeps its addresses and sessions in', () => {
  it('behaves as a list in order of last use, for any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('touch', 'delete', 'evict'), fc.integer({ min: 0, max: 9 }), fc.integer()), { maxLength: 200 }), (ops) => {
        const list = new RecencyList<number>();
        let model: Array<[string, number]> = [];
        for (const [op, k, v] of ops) {
          const key = `k${k}`;
          if (op === 'touch') {
            list.touch(key, v);
            model = [...model.filter(([m]) => m !== key), [key, v]];
          } else if (op === 'delete') {
            expect(list.delete(key)).toBe(model.some(([m]) => m === key));
            model = model.filter(([m]) => m !== key);
          } else {
            const o = list.oldest();
            expect(o && [o.key, o.value]).toEqual(model[0]);
            if (o) list.delete(o.key);
            model = model.slice(1);
          }
          expect(list.size).toBe(model.length);
          for (const [m, mv] of model) expect(list.get(m)).toBe(mv);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the webchat guard', () => {
  it('limits one client address to its burst, then says when to retry; another address is not affected', () => {
    const { g, tick } = guard();
    const l = limits({ addressRatePerSec: 2, addressBurst: 3 });
    for (let i = 0; i < 3; i++) expect(g.admit(A, '10.0.0.1', `s${i}`, true, l)).toBeNull();
    expect(g.admit(A, '10.0.0.1', 's9', true, l)).toEqual({
      code: 'rate-limited',
      message: 'your address sends messages too fast; slow down',
      retryAfterSeconds: 1,
    });
    expect(g.admit(A, '10.0.0.2', 's9', true, l)).toBeNull();
    tick(500);
    expect(g.admit(A, '10.0.0.1', 's9', true, l)).toBeNull();
  });

  it('counts an IPv6 /64 as one client, and an IPv4-mapped address as its IPv4 one', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    const { g } = guard();
    const l = limits({ addressRatePerSec: 1, addressBurst: 2 });
    expect(g.admit(A, '2001:db8:1:2::1', 'a', true, l)).toBeNull();
    expect(g.admit(A, '2001:db8:1:2::2', 'b', true, l)).toBeNull();
    expect(g.admit(A, '2001:db8:1:2:ffff::3', 'c', true, l)?.code).toBe('rate-limited');
  });

  it('limits a channel whatever the number of addresses', () => {
    const { g } = guard();
    const l = limits({ ratePerSec: 10, burst: 5 });
    for (let i = 0; i < 5; i++) expect(g.admit(A, `10.1.0.${i}`, `s${i}`, true, l)).toBeNull();
    expect(g.admit(A, '10.1.0.99', 'x', true, l)).toEqual({
      code: 'rate-limited',
      message: 'this chat is receiving too many messages; slow down',
      retryAfterSeconds: 1,
    });
    expect(g.admit({ ...A, channel: 'vip' }, '10.1.0.99', 'x', true, l)).toBeNull();
  });

  it('caps live sessions: a new one waits until the least recently active goes idle; live ones go on', () => {
    const { g, tick } = guard();
    const l = limits({ maxLiveSessions: 2, sessionIdleSeconds: 60 });
    expect(g.admit(A, '1.1.1.1', 'a', true, l)).toBeNull();
    tick(10_000);
    expect(g.admit(A, '1.1.1.2', 'b', true, l)).toBeNull();
    expect(g.admit(A, '1.1.1.3', 'c', true, l)).toEqual({
      code: 'too-many-sessions',
      message: 'this chat has 2 conversations going on; try again later',
      retryAfterSeconds: 50,
    });
    tick(20_000);
    expect(g.admit(A, '1.1.1.1', 'a', false, l)).toBeNull();
    tick(45_000);
    // b went idle first now that a spoke again.
    expect(g.admit(A, '1.1.1.3', 'c', true, l)).toBeNull();
    expect(g.usage(A).liveSessions).toBe(2);
  });

  it('caps the bytes stored by sessions, counting what each stores now; a deleted session frees its share', () => {
    const { g } = guard();
    const l = limits({ maxStoredBytes: 3 * MIN_SESSION_BYTES + 100 });
    expect(g.admit(A, '2.2.2.1', 'a', true, l)).toBeNull();
    g.stored(A, 'a', 2 * MIN_SESSION_BYTES);
    expect(g.admit(A, '2.2.2.2', 'b', true, l)).toBeNull();
    expect(g.usage(A).storedBytes).toBe(3 * MIN_SESSION_BYTES);
    const full = g.admit(A, '2.2.2.3', 'c', true, l);
    expect(full).toEqual({
      code: 'storage-full',
      message: `this chat stores at most ${3 * MIN_SESSION_BYTES + 100} bytes of conversations; no new conversation can start now`,
      retryAfterSeconds: 1800,
    });
    expect(g.admit(A, '2.2.2.1', 'a', false, l)).toBeNull();
    g.forget(A, 'a');
    expect(g.admit(A, '2.2.2.3', 'c', true, l)).toBeNull();
    // Another tenant environment has a ledger of its own.
    expect(g.admit({ ...A, env: 'staging' }, '2.2.2.3', 'z', true, l)).toBeNull();
  });

  it('generated traffic: memory stays bounded by config, caps hold, and every refusal says when to retry', () => {
    const l = limits({
      maxTrackedAddresses: 50,
      maxLiveSessions: 20,
      maxStoredBytes: 40 * MIN_SESSION_BYTES,
      addressBurst: 3,
      addressRatePerSec: 1,
      burst: 1000,
      ratePerSec: 1000,
    });
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            address: fc.ipV4(),
            session: fc.integer({ min: 0, max: 60 }),
            fresh: fc.boolean(),
            wait: fc.integer({ min: 0, max: 5000 }),
            bytes: fc.integer({ min: 0, max: 5000 }),
          }),
          {
            maxLength: 400,
          },
        ),
        (ops) => {
          const { g, tick } = guard();
          for (const op of ops) {
            tick(op.wait);
            const r = g.admit(A, op.address, `s${op.session}`, op.fresh, l);
            if (r) expect(r.retryAfterSeconds).toBeGreaterThanOrEqual(1);
            else if (op.bytes) g.stored(A, `s${op.session}`, op.bytes);
            const u = g.usage(A);
            expect(u.trackedAddresses).toBeLessThanOrEqual(50);
            expect(u.liveSessions).toBeLessThanOrEqual(20);
          }
        },
      ),
      { numRuns: 200 },
    );
    // A flood of distinct addresses never grows the guard past its bound.
    const { g } = guard();
    for (let i = 0; i < 20_000; i++) g.admit(A, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 's', false, l);
    expect(g.usage(A).trackedAddresses).toBe(50);
  });
});

describe('webchat limits over HTTP, from tenant settings', () => {
  const bundle = copyExamples();
  let t: TestHost;
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    const yaml = (await import('node:fs')).readFileSync(`${bundle.dir}/bundle.yaml`, 'utf8');
    writeFiles(bundle.dir, {
      'bundle.yaml': yaml.replace(
        '      limits:\n        deadline_ms: 1000',
        '      limits:\n        deadline_ms: 1000\n      webchat: { address_burst: 4, address_rate_per_sec: 1, max_live_sessions: 3 }',
      ),
      'tenants/acme/teams/sales.yaml': { team: 'sales', channels: { webchat: { provider: 'webchat', flow: 'acme_sales_flow' } } },
    });
    t = await startHost({ bundleDir: bundle.dir, workers: 1, spare: false });
    expect(t.host.problems).toEqual([]);
    // A frozen clock: buckets do not refill while the test runs, however slow the machine.
    app = await createHttpServer(t.host, { webchatGuard: new WebchatGuard(() => 0) });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
    bundle.cleanup();
  });
  const post = (path: string, cookie?: string) =>
    fetch(`${base}${path}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) }, body: '{"text":"hi"}' });

  it("refuses past bigcorp's caps with 429 and Retry-After, while acme's webchat is served", async () => {
    const cookies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await post('/webchat/bigcorp/prod/helpdesk/webchat');
      expect(r.status).toBe(200);
      cookies.push(r.headers.get('set-cookie')!.split(';')[0]!);
    }
    const fourth = await post('/webchat/bigcorp/prod/helpdesk/webchat');
    expect(fourth.status).toBe(429);
    expect(fourth.headers.get('retry-after')).toBe('1800');
    expect(await fourth.json()).toEqual({
      error: { code: 'too-many-sessions', message: 'this chat has 3 conversations going on; try again later', retryable: true },
    });
    const fifth = await post('/webchat/bigcorp/prod/helpdesk/webchat', cookies[0]);
    expect(fifth.status).toBe(429);
    expect(fifth.headers.get('retry-after')).toBe('1');
    expect(await fifth.json()).toEqual({ error: { code: 'rate-limited', message: 'your address sends messages too fast; slow down', retryable: true } });
    expect((await post('/webchat/acme/prod/sales/webchat')).status).toBe(200);
  });

  it('settings.webchat is checked strictly, like every other key', async () => {
    const b = copyExamples();
    try {
      writeFiles(b.dir, { 'tenants/acme/tenant.yaml': 'tenant: acme\nenvironments: { prod: {} }\nsettings: { webchat: { rate_per_sec: 0, burts: 3 } }\n' });
      expect((await loadWorkspace(b.dir)).problems.map(formatProblem)).toEqual([
        expect.stringMatching(/tenant\.yaml: settings\.webchat\.rate_per_sec: Too small: expected number to be >0$/),
        expect.stringMatching(/tenant\.yaml: settings\.webchat\.burts: unknown key$/),
      ]);
    } finally {
      b.cleanup();
    }
  });
});
