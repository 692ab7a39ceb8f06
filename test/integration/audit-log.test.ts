import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { secretsCommand } from '../../dist/cli/secrets.js';
import { tokenCommand } from '../../dist/cli/token.js';
import { ACME_SECRET, acmeClaims, call, sign } from '../support/api.js';
import { copyExamples } from '../support/bundle.js';
import { installSecretProber } from '../support/secret-prober.js';
import { ACME_SLACK, replies, startHost, type TestHost } from '../support/host.js';

// acme's support channel runs the prober, which may read the secret api_key (granted) and is refused shared_key.
const bundle = copyExamples();
const ADMIN_TOKEN = 'operator-admin-token-0123456789abcdef';
const SECRET_VALUE = 'sk-live-AUDIT-must-never-appear-5f3a9c';
const MESSAGE_MARK = 'message-text-that-must-stay-out-of-the-audit';
const { privateKey: bigcorpKey, publicKey } = generateKeyPairSync('ed25519');
let t: TestHost;
let app: FastifyInstance;
let base: string;
const acmeAdmin = () => sign(acmeClaims({ scope: 'admin' }));
const bigcorpAdmin = () =>
  sign(
    { tenant: 'bigcorp', teams: ['helpdesk'], envs: ['prod'], scope: 'admin', iss: 'greentic-host', aud: 'greentic-api', sub: 'bigcorp-admin' },
    { key: bigcorpKey, alg: 'EdDSA' },
  );
const io = (stdin = '') => {
  const err: string[] = [];
  const out: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), stdin: Readable.from([stdin]) }, out, err };
};

/** Every record of a tenant through the API, page by page (`limit` per page). */
async function auditOf(tenant: 'acme' | 'bigcorp', limit = 1000): Promise<any[]> {
  const token = tenant === 'acme' ? await acmeAdmin() : await bigcorpAdmin();
  const team = tenant === 'acme' ? 'support' : 'helpdesk';
  await t.host.audit.flush();
  const all: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const r = await call(base, 'GET', `/api/v1/audit?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { token, tenant, team });
    expect(r.status, r.text).toBe(200);
    expect(r.body.tenant).toBe(tenant);
    all.push(...r.body.records);
    cursor = r.body.next;
    if (cursor === null) return all;
  }
  throw new Error('more than 100 pages');
}

beforeAll(async () => {
  installSecretProber(bundle.dir);
  writeFileSync(join(bundle.dir, 'tenants/bigcorp/keys/api-ed25519.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }).toString());
  t = await startHost({ bundleDir: bundle.dir, audit: { denialsPerWindow: 5 } });
  expect(t.host.problems).toEqual([]);
  await t.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'api_jwt_secret', ACME_SECRET);
  app = await createHttpServer(t.host, { adminToken: ADMIN_TOKEN });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app?.close();
  await t?.close();
  bundle.cleanup();
});

describe("a tenant's audit log", () => {
  it('lists a secret set by the CLI and read by a component (name and component, never the value), and a token issued', async () => {
    const set = io(SECRET_VALUE);
    expect(await secretsCommand(['set', '--data', t.dataDir, '--tenant', 'acme', 'api_key'], set.io)).toBe(0);
    const calls = [
      { fn: 'secrets.get', args: ['api_key'] },
      { fn: 'secrets.get', args: ['shared_key'] },
      { fn: 'log.write', args: ['info', MESSAGE_MARK] },
    ];
    const outcomes = JSON.parse(replies(await t.say(ACME_SLACK, 'u1', JSON.stringify({ calls, mark: MESSAGE_MARK })))[0]!);
    expect(outcomes[0]).toEqual({ fn: 'secrets.get', ok: SECRET_VALUE });
    expect(outcomes[1].err.tag).toBe('access-denied');
    const token = io();
    expect(
      await tokenCommand(
        ['issue', '--bundle', bundle.dir, '--data', t.dataDir, '--tenant', 'acme', '--team', 'support', '--scope', 'read', '--subject', 'auditor'],
        token.io,
      ),
    ).toBe(0);
    expect(token.err).toEqual([]);

    const records = await auditOf('acme');
    const pick = (r: any) => [r.actor, r.action, r.target, r.outcome];
    expect(records.filter((r) => r.action.startsWith('secret.') || r.action === 'token.issue').map(pick)).toEqual([
      ['cli', 'secret.set', 'secret:acme/api_key', 'ok'],
      ['component:prober', 'secret.read', 'secret:api_key', 'ok'],
      ['cli', 'token.issue', 'token:auditor', 'ok'],
    ]);
    const read = records.find((r) => r.action === 'secret.read');
    expect(read).toMatchObject({ tenant: 'acme', env: 'prod', team: 'support', detail: 'flow acme_support_flow, node p' });
    expect(Date.parse(read.time)).toBeGreaterThan(Date.now() - 60_000);
    const denied = records.find((r) => r.action === 'access.denied' && r.target === 'capability:secrets.get');
    expect(denied).toMatchObject({
      actor: 'component:prober',
      outcome: 'denied',
      env: 'prod',
      team: 'support',
      detail: 'secret "shared_key" is not granted to component "prober" of tenant "acme"',
    });
    // The bytes on disk: no secret value, no message text, no token.
    const dir = join(t.dataDir, 'audit', 'acme');
    const text = readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
    for (const needle of [SECRET_VALUE, MESSAGE_MARK, ACME_SECRET, token.out[0]!]) expect(text).not.toContain(needle);
  });

  it("shows an admin only their own tenant's records: bigcorp's admin never sees acme's", async () => {
    const bigcorp = await auditOf('bigcorp');
    expect(bigcorp.every((r) => r.tenant === 'bigcorp')).toBe(true);
    const text = JSON.stringify(bigcorp);
    expect(text).not.toContain('acme');
    expect(text).not.toContain('api_key');
    // The acme headers with bigcorp's token: refused, and the refusal is in acme's log (not bigcorp's).
    const r = await call(base, 'GET', '/api/v1/audit', { token: await bigcorpAdmin(), tenant: 'acme', team: 'support' });
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({ code: 'tenant-mismatch', message: 'the token is not for the tenant named by X-Tenant-ID ("acme")' });
    const acme = await auditOf('acme');
    expect(acme.filter((x) => x.target === 'route:GET /api/v1/audit').map((x) => [x.action, x.outcome, x.detail])).toEqual([
      ['access.denied', 'denied', '403 tenant-mismatch: the token is not for the tenant named by X-Tenant-ID ("acme")'],
    ]);
  });

  it('needs the admin scope, pages with a cursor, filters by time and refuses a made-up cursor', async () => {
    const r = await call(base, 'GET', '/api/v1/audit', { token: await sign(acmeClaims({ scope: 'read write' })) });
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({ code: 'insufficient-scope', message: 'this needs the "admin" scope; the token has: read write' });
    const all = await auditOf('acme');
    const paged = await auditOf('acme', 2);
    expect(paged).toEqual(all);
    const last = all.at(-1);
    const since = await call(base, 'GET', `/api/v1/audit?since=${encodeURIComponent(last.time)}`, { token: await acmeAdmin() });
    expect(since.body.records.every((x: any) => x.time >= last.time)).toBe(true);
    expect(since.body.records.at(-1)).toEqual(last);
    const bad = await call(base, 'GET', '/api/v1/audit?cursor=..%2F..%2Fetc', { token: await acmeAdmin() });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toEqual({ code: 'invalid-request', message: 'cursor "../../etc" is not one this API gave' });
    const badTime = await call(base, 'GET', '/api/v1/audit?since=yesterday', { token: await acmeAdmin() });
    expect(badTime.status).toBe(400);
    expect(badTime.body.error.code).toBe('invalid-request');
  });

  it('records exports, erasures, admin actions and reloads', async () => {
    const admin = await acmeAdmin();
    expect((await call(base, 'GET', '/api/v1/users/u1/export', { token: admin })).status).toBe(200);
    expect((await call(base, 'DELETE', '/api/v1/users/u1', { token: admin })).status).toBe(200);
    const reload = await fetch(`${base}/admin/v1/tenants/acme/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(reload.status).toBe(200);
    const records = await auditOf('acme');
    const pick = (r: any) => [r.actor, r.action, r.target, r.outcome];
    expect(records.filter((r) => r.action.startsWith('data.')).map(pick)).toEqual([
      ['tester', 'data.export', 'user:u1', 'ok'],
      ['tester', 'data.erase', 'user:u1', 'ok'],
    ]);
    expect(records.filter((r) => r.action === 'admin.action' || r.action === 'tenant.reload').map(pick)).toEqual([
      ['operator', 'tenant.reload', 'tenant:acme', 'ok'],
      ['operator', 'admin.action', 'tenant:acme', 'ok'],
    ]);
    expect(records.find((r) => r.action === 'data.erase').counts).toMatchObject({ sessions: 1 });
  });

  it('rate-limits denials per tenant, counting what it dropped in one summary record', async () => {
    // 12 refused reads in one turn against a limit of 5 a minute, 3 of which the tests above used
    // (the component's refused read, two refused API requests).
    expect((await auditOf('acme')).filter((r) => r.action === 'access.denied')).toHaveLength(3);
    const calls = Array.from({ length: 12 }, () => ({ fn: 'secrets.get', args: ['shared_key'] }));
    await t.say(ACME_SLACK, 'u2', JSON.stringify({ calls }));
    await t.host.audit.close();
    const records = await auditOf('acme');
    expect(records.filter((r) => r.action === 'access.denied')).toHaveLength(5);
    const dropped = records.filter((r) => r.action === 'audit.dropped');
    expect(dropped.map((r) => [r.actor, r.outcome, r.counts])).toEqual([['host', 'dropped', { rate_limited: 10 }]]);
    const metrics = await t.host.metrics.registry.getSingleMetricAsString('greentic_audit_dropped_total');
    expect(metrics).toContain('greentic_audit_dropped_total{tenant="acme",reason="rate_limited"} 10');
  });
});
