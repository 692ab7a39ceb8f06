import { createHmac, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { ACME_SECRET, acmeClaims, call, sign, startApi, type ApiFixture } from '../support/api.js';
import { CRAFTED_IDS } from '../support/crafted-ids.js';

let api: ApiFixture;
let good: string;
let bigcorpSession: string;
beforeAll(async () => {
  api = await startApi();
  good = await sign(acmeClaims());
  // bigcorp has a session acme must never reach.
  const r = await api.t.say({ tenant: 'bigcorp', env: 'prod', team: 'helpdesk', channel: 'webchat' }, 'victim', 'hi');
  if (!r.ok) throw new Error(r.message);
  bigcorpSession = r.session;
});
afterAll(async () => {
  await api?.close();
});

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const expectRefused = (r: { status: number; body: any; text: string }, status: number, code: string) => {
  expect(r.status, r.text).toBe(status);
  expect(r.body.error.code).toBe(code);
  expect(typeof r.body.error.message).toBe('string');
  // Nothing of bigcorp's leaks into a refusal.
  expect(r.text).not.toContain(bigcorpSession);
  expect(r.text).not.toMatch(/at .*\.js:\d+/); // no stack traces
};

describe('API attacks are refused with the right status, and nothing leaks', () => {
  it("acme's token with X-Tenant-ID: bigcorp -> 403", async () => {
    expectRefused(await call(api.base, 'GET', '/api/v1/sessions?env=prod', { token: good, tenant: 'bigcorp', team: 'helpdesk' }), 403, 'tenant-mismatch');
  });

  it('a valid token, a team it does not name -> 403', async () => {
    expectRefused(await call(api.base, 'GET', '/api/v1/sessions?env=prod', { token: good, team: 'sales' }), 403, 'team-not-allowed');
  });

  it('missing headers -> 400, missing token -> 401', async () => {
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: good, tenant: null }), 400, 'missing-tenant-header');
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: good, team: null }), 400, 'missing-team-header');
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', {}), 401, 'missing-token');
    expectRefused(
      await call(api.base, 'GET', '/api/v1/flows', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }),
      401,
      'missing-token',
    );
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: 'not.a.jwt' }), 401, 'invalid-token');
  });

  it('expired, not yet valid, wrong issuer, wrong audience -> 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: await sign(acmeClaims({ exp: now - 10 })) }), 401, 'token-expired');
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: await sign(acmeClaims({ nbf: now + 600 })) }), 401, 'token-not-yet-valid');
    const iss = await call(api.base, 'GET', '/api/v1/flows', { token: await sign(acmeClaims({ iss: 'evil-issuer' })) });
    expectRefused(iss, 401, 'invalid-token');
    expect(iss.body.error.message).toBe('token claim iss is wrong: unexpected value');
    const aud = await call(api.base, 'GET', '/api/v1/flows', { token: await sign(acmeClaims({ aud: 'another-api' })) });
    expectRefused(aud, 401, 'invalid-token');
    expect(aud.body.error.message).toBe('token claim aud is wrong: unexpected value');
    // A token without exp is refused too.
    const noExp = await new SignJWT(acmeClaims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(ACME_SECRET));
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: noExp }), 401, 'invalid-token');
  });

  it('a tampered signature or payload -> 401', async () => {
    const [h, p, s] = good.split('.');
    const flipped = `${h}.${p}.${s!.slice(0, -2)}${s!.slice(-2) === 'AA' ? 'BB' : 'AA'}`;
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: flipped }), 401, 'bad-signature');
    const escalated = `${h}.${b64({ ...acmeClaims(), teams: ['support', 'sales'], scope: 'admin', exp: Math.floor(Date.now() / 1000) + 600 })}.${s}`;
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: escalated, team: 'sales' }), 401, 'bad-signature');
  });

  it('alg: none -> 401', async () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...acmeClaims(), exp: Math.floor(Date.now() / 1000) + 600 })}.`;
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: none }), 401, 'algorithm-not-allowed');
  });

  it("HS/RS confusion: an HS256 token keyed with bigcorp's RS256 public key -> 401", async () => {
    const claims = {
      tenant: 'bigcorp',
      teams: ['helpdesk'],
      envs: ['prod'],
      scope: 'admin',
      iss: 'greentic-host',
      aud: 'greentic-api',
      exp: Math.floor(Date.now() / 1000) + 600,
    };
    const header = b64({ alg: 'HS256', typ: 'JWT' });
    const body = b64(claims);
    const mac = createHmac('sha256', api.bigcorpPublicPem).update(`${header}.${body}`).digest('base64url');
    expectRefused(
      await call(api.base, 'GET', '/api/v1/flows', { token: `${header}.${body}.${mac}`, tenant: 'bigcorp', team: 'helpdesk' }),
      401,
      'algorithm-not-allowed',
    );
    // bigcorp's own RS256 token works, so the refusal is about the algorithm.
    const real = await sign(claims, { key: api.bigcorpPrivate, alg: 'RS256' });
    expect((await call(api.base, 'GET', '/api/v1/flows', { token: real, tenant: 'bigcorp', team: 'helpdesk' })).status).toBe(200);
  });

  it("a token for acme signed with another tenant's key -> 401", async () => {
    const forged = await sign(acmeClaims(), { key: api.bigcorpPrivate, alg: 'RS256' });
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: forged }), 401, 'algorithm-not-allowed');
    const otherSecret = await sign(acmeClaims(), { key: new TextEncoder().encode('guessed-secret') });
    expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: otherSecret }), 401, 'bad-signature');
    const { privateKey } = generateKeyPairSync('ed25519');
    expectRefused(
      await call(api.base, 'GET', '/api/v1/flows', { token: await sign(acmeClaims(), { key: privateKey, alg: 'EdDSA' }) }),
      401,
      'algorithm-not-allowed',
    );
  });

  it("another tenant's session id in the path is not found, never returned", async () => {
    const get = await call(api.base, 'GET', `/api/v1/sessions/${bigcorpSession}?env=prod`, { token: good });
    expect(get.status).toBe(404);
    expect(get.body.error.code).toBe('not-found');
    const del = await call(api.base, 'DELETE', `/api/v1/sessions/${bigcorpSession}?env=prod`, { token: good });
    expect(del.status).toBe(404);
    expect(await api.t.host.sessions.get({ tenant: 'bigcorp', env: 'prod', team: 'helpdesk', session: bigcorpSession })).not.toBeNull();
  });

  it('an environment or channel outside the token or the team -> 403 / 404', async () => {
    expectRefused(await call(api.base, 'GET', '/api/v1/sessions?env=staging', { token: good }), 403, 'env-not-allowed');
    expectRefused(
      await call(api.base, 'POST', '/api/v1/messages', { token: good, body: { env: 'prod', channel: 'webchat', user: 'x', text: 'hi' } }),
      404,
      'not-found',
    );
    expectRefused(
      await call(api.base, 'POST', '/api/v1/messages', { token: good, body: { env: 'prod', channel: 'teams', user: 'x', text: 'hi' } }),
      404,
      'not-found',
    );
  });

  it.each(CRAFTED_IDS.filter(([v]) => v !== ''))('crafted id %j in headers, paths and bodies -> 400', async (bad) => {
    const enc = encodeURIComponent(bad);
    if (!/[\u0000\n]/.test(bad)) expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: good, tenant: bad }), 400, 'invalid-id');
    if (!/[\u0000\n]/.test(bad)) expectRefused(await call(api.base, 'GET', '/api/v1/flows', { token: good, team: bad }), 400, 'invalid-id');
    const path = await call(api.base, 'GET', `/api/v1/sessions/${enc}?env=prod`, { token: good });
    expect([400, 404]).toContain(path.status);
    expect(path.text).not.toContain(bigcorpSession);
    expect((await call(api.base, 'GET', `/api/v1/sessions?env=${enc}`, { token: good })).status).toBe(400);
    expect((await call(api.base, 'POST', '/api/v1/messages', { token: good, body: { env: 'prod', channel: 'slack', user: bad, text: 'hi' } })).status).toBe(
      400,
    );
  });

  it('unknown body fields and oversized bodies are refused', async () => {
    expectRefused(
      await call(api.base, 'POST', '/api/v1/messages', { token: good, body: { env: 'prod', channel: 'slack', user: 'u', text: 'hi', tenant: 'bigcorp' } }),
      400,
      'invalid-request',
    );
    expectRefused(
      await call(api.base, 'POST', '/api/v1/messages', { token: good, body: { env: 'prod', channel: 'slack', user: 'u', text: 'x'.repeat(200_000) } }),
      413,
      'body-too-large',
    );
    expectRefused(await call(api.base, 'POST', '/api/v1/messages', { token: good, body: '{"env":' }), 400, 'invalid-json');
  });

  it('a read-only token cannot write or delete', async () => {
    const ro = await sign(acmeClaims({ scope: 'read' }));
    expectRefused(
      await call(api.base, 'POST', '/api/v1/messages', { token: ro, body: { env: 'prod', channel: 'slack', user: 'u', text: 'hi' } }),
      403,
      'insufficient-scope',
    );
    expectRefused(await call(api.base, 'DELETE', '/api/v1/sessions/s1?env=prod', { token: ro }), 403, 'insufficient-scope');
  });
});
