import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer } from '../../dist/api/server.js';
import type { TenantEvent } from '../../dist/flow/tenant-reports.js';
import { acmeClaims, call, sign, startApi, type ApiFixture } from '../support/api.js';
import { CLI } from '../support/bundle.js';
import { freePort } from '../support/nats.js';
import { rawRequest } from '../support/raw-http.js';

const run = promisify(execFile);
const TOKEN = randomBytes(32).toString('hex');
let api: ApiFixture;
let admin: FastifyInstance;
let base: string;
let flow: string;
let original: string;
const events: TenantEvent[] = [];

beforeAll(async () => {
  api = await startApi();
  admin = await createHttpServer(api.t.host, { adminToken: TOKEN });
  base = await admin.listen({ port: 0, host: '127.0.0.1' });
  api.t.host.tenants.on((e) => events.push(e));
  flow = join(api.t.host.workspace.root, 'tenants/acme/flows/acme_sales_flow.yaml');
  original = readFileSync(flow, 'utf8');
});
afterAll(async () => {
  await admin?.close();
  await api?.close();
});

const asOperator = (method: string, path: string, token = TOKEN) =>
  call(base, method, path, { tenant: null, team: null, headers: { authorization: `Bearer ${token}` } });
const ADMIN_ROUTES: Array<[string, string]> = [
  ['GET', '/admin/v1/tenants'],
  ['GET', '/admin/v1/tenants/acme'],
  ['GET', '/admin/v1/tenants/acme/problems'],
  ['POST', '/admin/v1/tenants/acme/reload'],
  ['POST', '/admin/v1/reload'],
];

describe('the admin API: its own credential', () => {
  it('an instance without an admin token has no admin API: every route is 404, as if it did not exist', async () => {
    for (const [method, path] of ADMIN_ROUTES) {
      const r = await call(api.base, method, path, { tenant: null, team: null, headers: { authorization: `Bearer ${TOKEN}` } });
      expect([method, path, r.status, r.body]).toEqual([method, path, 404, { error: { code: 'not-found', message: 'no such route' } }]);
    }
  });

  it("refuses a request without the operator's token, and a tenant's API token, on every route", async () => {
    const tenantToken = await sign(acmeClaims({ scope: 'admin' }));
    for (const [method, path] of ADMIN_ROUTES) {
      expect((await call(base, method, path, { tenant: null, team: null })).body).toEqual({
        error: { code: 'missing-token', message: "the admin API needs the operator's Bearer token (GREENTIC_ADMIN_TOKEN)" },
      });
      for (const wrong of [tenantToken, `${TOKEN}x`, TOKEN.slice(1), TOKEN.toUpperCase()]) {
        const r = await asOperator(method, path, wrong);
        expect([path, r.status, r.body]).toEqual([path, 401, { error: { code: 'invalid-token', message: "the token is not the operator's admin token" } }]);
      }
    }
  });

  it('no generated Authorization header passes, and no generated tenant segment gets anything but 400 or 404', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 0, maxLength: 80, unit: fc.constantFrom(...'abcdef0123456789 Bearer:\t'.split('')) }), async (header) => {
        const r = await call(base, 'GET', '/admin/v1/tenants', { tenant: null, team: null, headers: { authorization: header } });
        expect(r.status).toBe(401);
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40, unit: fc.constantFrom(...'aZ0._-%2e~!'.split('')) }), async (segment) => {
        // Sent as raw bytes: a client (fetch) would resolve "..", "." and "%2e%2E" segments
        // before sending, and ask for another route (POST /admin/v1/reload) instead.
        const port = Number(new URL(base).port);
        const request = `POST /admin/v1/tenants/${segment}/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
        const r = await rawRequest(port, Buffer.from(request));
        expect([400, 404]).toContain(r.status);
        expect(Object.keys(JSON.parse(r.body).error)).toEqual(['code', 'message']);
      }),
      { numRuns: 60, examples: [['..'], ['.'], ['%2e%2E'], ['.%2e']] },
    );
  });
});

describe('the admin API: tenants, problems, reloads', () => {
  it('lists every tenant with its state, version and problem counts', async () => {
    const r = await asOperator('GET', '/admin/v1/tenants');
    expect(r.status).toBe(200);
    expect(r.body.workspace).toBe('greentic-demo');
    expect(r.body.problems).toEqual([]);
    expect(r.body.tenants.map((t: any) => [t.tenant, t.state, t.problems, t.refused, t.watch, t.last_reload.outcome])).toEqual([
      ['acme', 'serving', 0, null, 'off', 'loaded'],
      ['bigcorp', 'serving', 0, null, 'off', 'loaded'],
    ]);
    for (const t of r.body.tenants) expect(t.version).toMatch(/^[0-9a-f]{16}$/);
    const one = await asOperator('GET', '/admin/v1/tenants/bigcorp');
    expect(one.body).toMatchObject({ tenant: 'bigcorp', state: 'serving', problems: [], refused: null });
    expect((await asOperator('GET', '/admin/v1/tenants/Bad.Id')).body.error.code).toBe('invalid-id');
    expect((await asOperator('GET', '/admin/v1/tenants/nobody/problems')).body).toEqual({
      error: { code: 'not-found', message: 'this instance knows no tenant "nobody"' },
    });
  });

  it('reloads one tenant on demand: unchanged, refused with its problems (the last good version kept), reloaded', async () => {
    const before = (await asOperator('GET', '/admin/v1/tenants/acme')).body.version;
    expect((await asOperator('POST', '/admin/v1/tenants/acme/reload')).body).toEqual({
      tenant: 'acme',
      outcome: 'unchanged',
      version: before,
      previous_version: before,
      problems: [],
    });

    writeFileSync(flow, original.replace('next: thanks', 'next: nowhere'));
    const refused = await asOperator('POST', '/admin/v1/tenants/acme/reload');
    expect(refused.body).toMatchObject({ tenant: 'acme', outcome: 'kept-last-good', previous_version: before });
    expect(refused.body.problems).toEqual([
      { file: expect.stringMatching(/acme_sales_flow\.yaml$/), path: 'nodes.greet.next', message: 'no node "nowhere" in this flow' },
    ]);
    const problems = await asOperator('GET', '/admin/v1/tenants/acme/problems');
    expect(problems.body).toEqual({
      tenant: 'acme',
      state: 'stale',
      version: before,
      problems: [],
      refused: { version: refused.body.version, at: expect.any(String), problems: refused.body.problems },
    });
    expect((await asOperator('GET', '/admin/v1/tenants')).body.tenants[0]).toMatchObject({ state: 'stale', refused: { problems: 1 } });

    writeFileSync(flow, original.replace('Great choice', 'Excellent choice'));
    const reloaded = await asOperator('POST', '/admin/v1/tenants/acme/reload');
    expect(reloaded.body).toMatchObject({ outcome: 'reloaded', previous_version: before, problems: [] });
    expect(reloaded.body.version).not.toBe(before);
    const all = await asOperator('POST', '/admin/v1/reload');
    expect(all.body.reloads.map((r: any) => [r.tenant, r.outcome])).toEqual([
      ['acme', 'unchanged'],
      ['bigcorp', 'unchanged'],
    ]);
    writeFileSync(flow, original);
    expect((await asOperator('POST', '/admin/v1/tenants/acme/reload')).body.version).toBe(before);
  });

  it('every admin action is logged and told to the listeners (for audit logs)', async () => {
    const admins = events.filter((e) => e.kind === 'admin');
    expect(admins).toContainEqual({ kind: 'admin', action: 'reload', tenant: 'acme', outcome: 'kept-last-good', from: '127.0.0.1' });
    expect(admins).toContainEqual({ kind: 'admin', action: 'list', tenant: undefined, outcome: 'ok', from: '127.0.0.1' });
    expect(events.filter((e) => e.kind === 'reload' && e.trigger === 'admin').length).toBeGreaterThanOrEqual(3);
    expect(api.t.logs.lines).toContainEqual(
      expect.objectContaining({ event: 'admin-action', action: 'reload', tenant_id: 'acme', outcome: 'reloaded', from: '127.0.0.1' }),
    );
  });
});

describe('greentic-host reload', () => {
  const reload = async (args: string[], env: Record<string, string | undefined> = { GREENTIC_ADMIN_TOKEN: TOKEN }) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, 'reload', ...args], { env: { ...process.env, GREENTIC_ADMIN_TOKEN: undefined, ...env } });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it('reloads a tenant of a running instance and exits 1 when a version is refused, printing its problems', async () => {
    const version = (await asOperator('GET', '/admin/v1/tenants/acme')).body.version;
    expect(await reload(['--url', base, '--tenant', 'acme'])).toEqual({ code: 0, stdout: `acme: unchanged (${version})\n`, stderr: '' });
    writeFileSync(flow, original.replace('type: ask', 'type: asks'));
    const refused = await reload(['--url', base, '--tenant', 'acme']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(
      new RegExp(
        `^acme: kept its last good version ${version}; the new one \\([0-9a-f]{16}\\) has 1 problem:\\n  .*acme_sales_flow\\.yaml: nodes\\.greet\\.type: unknown component type "asks" \\(did you mean "ask"\\?\\)\\n$`,
      ),
    );
    writeFileSync(flow, original);
    expect((await reload(['--url', base])).stdout).toBe(
      `acme: unchanged (${version})\nbigcorp: unchanged (${(await asOperator('GET', '/admin/v1/tenants/bigcorp')).body.version})\n`,
    );
  });

  it('says what is wrong: no token, a wrong one, an instance without the admin API, nobody listening, a bad flag', async () => {
    expect(await reload(['--url', base], {})).toMatchObject({
      code: 1,
      stderr: 'greentic-host reload: set GREENTIC_ADMIN_TOKEN (or GREENTIC_ADMIN_TOKEN_FILE) to the token the instance was started with\n',
    });
    expect(await reload(['--url', base], { GREENTIC_ADMIN_TOKEN: 'short' })).toMatchObject({
      code: 1,
      stderr: 'greentic-host reload: GREENTIC_ADMIN_TOKEN is 5 characters; an admin token needs at least 24 (e.g. openssl rand -hex 32)\n',
    });
    expect(await reload(['--url', base], { GREENTIC_ADMIN_TOKEN: 'z'.repeat(40) })).toMatchObject({
      code: 1,
      stderr: `greentic-host reload: ${base} answered 401 (invalid-token): the token is not the operator's admin token\n`,
    });
    expect(await reload(['--url', api.base])).toMatchObject({
      code: 1,
      stderr: `greentic-host reload: ${api.base} has no admin API (start it with GREENTIC_ADMIN_TOKEN set)\n`,
    });
    const nobody = `http://127.0.0.1:${await freePort()}`;
    expect(await reload(['--url', nobody])).toMatchObject({ code: 1, stderr: `greentic-host reload: cannot reach ${nobody}: ECONNREFUSED\n` });
    expect(await reload(['--tenant', 'Acme'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^greentic-host reload: invalid tenant id "Acme" in --tenant: it has upper-case letters/),
    });
    expect(await reload(['--url', 'ftp://x'])).toMatchObject({
      code: 2,
      stderr: 'greentic-host reload: --url must be http or https, got "ftp:" (see --help)\n',
    });
  });
});
