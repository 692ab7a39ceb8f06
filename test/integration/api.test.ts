import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../dist/cli/main.js';
import { acmeClaims, call, METRICS_TOKEN, sign, startApi, type ApiFixture } from '../support/api.js';

let api: ApiFixture;
let token: string;
beforeAll(async () => {
  api = await startApi();
  token = await sign(acmeClaims());
});
afterAll(async () => {
  await api?.close();
});

describe('the REST API', () => {
  it('serves an OpenAPI document generated from the route schemas', async () => {
    const r = await call(api.base, 'GET', '/api/v1/openapi.json', { tenant: null, team: null });
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.0.3');
    expect(Object.keys(r.body.paths).sort()).toEqual([
      '/admin/v1/reload',
      '/admin/v1/tenants',
      '/admin/v1/tenants/{tenant}',
      '/admin/v1/tenants/{tenant}/problems',
      '/admin/v1/tenants/{tenant}/reload',
      '/api/v1/audit',
      '/api/v1/flows',
      '/api/v1/messages',
      '/api/v1/sessions',
      '/api/v1/sessions/{id}',
      '/api/v1/usage',
      '/api/v1/users/{user}',
      '/api/v1/users/{user}/export',
      '/healthz',
      '/readyz',
      '/webchat/{tenant}/{env}/{team}/{channel}',
      '/webchat/{tenant}/{env}/{team}/{channel}/history',
      '/webchat/{tenant}/{env}/{team}/{channel}/messages',
    ]);
    expect(r.body.paths['/api/v1/messages'].post.requestBody.content['application/json'].schema.required).toEqual(['env', 'channel', 'user', 'text']);
    expect(r.body.components.securitySchemes.bearer.scheme).toBe('bearer');
    // The operator's routes take the operator's token, not a tenant's.
    expect(r.body.paths['/admin/v1/tenants/{tenant}/reload'].post.security).toEqual([{ admin: [] }]);
    expect(r.body.components.securitySchemes.admin.scheme).toBe('bearer');
    expect(r.body.servers).toEqual([{ url: '/', description: 'this host' }]);
    // Every operation: a unique operationId, a default error response by reference to the named Error schema.
    const ops = Object.values(r.body.paths as Record<string, Record<string, any>>).flatMap((item) => Object.values(item));
    const ids = ops.map((op) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const op of ops) expect(op.responses.default.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(r.body.components.schemas.Error.required).toEqual(['error']);
    expect(r.body.paths['/webchat/{tenant}/{env}/{team}/{channel}/messages'].post).toMatchObject({ operationId: 'postWebchatMessage', security: [] });
    expect(r.body.paths['/api/v1/sessions'].get.responses['401'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    // Linted by a well-kept OpenAPI validator, against the 3.0 specification's JSON Schema.
    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const result = await new Validator().validate(r.body);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  it('logs every 401 and 403 with its tenant fields, never the token', async () => {
    const before = api.t.logs.lines.length;
    const forged = await sign(acmeClaims(), { key: new TextEncoder().encode('not-acme-secret-0123456789abcdef0123456789') });
    const bigcorp = await sign(acmeClaims({ tenant: 'bigcorp' }));
    const otherTeam = await sign(acmeClaims({ teams: ['sales'] }));
    expect((await call(api.base, 'GET', '/api/v1/sessions?env=prod', { token: forged })).status).toBe(401);
    expect((await call(api.base, 'GET', '/api/v1/sessions?env=prod', {})).status).toBe(401);
    expect((await call(api.base, 'GET', '/api/v1/sessions?env=prod', { token: bigcorp })).status).toBe(403);
    expect((await call(api.base, 'GET', '/api/v1/sessions?env=prod', { token: otherTeam })).status).toBe(403);
    expect((await call(api.base, 'GET', '/api/v1/sessions?env=prod', { token: forged, tenant: 'nobody', team: 'x' })).status).toBe(403);
    const refused = api.t.logs.lines.slice(before).filter((l) => l.event === 'api-refused');
    expect(refused.map((l) => [l.tenant_id, l.team_id, l.status, l.code, l.route])).toEqual([
      ['acme', 'support', 401, 'bad-signature', '/api/v1/sessions'],
      ['acme', 'support', 401, 'missing-token', '/api/v1/sessions'],
      ['acme', 'support', 403, 'tenant-mismatch', '/api/v1/sessions'],
      ['acme', 'support', 403, 'team-not-allowed', '/api/v1/sessions'],
      // A tenant this host does not serve: one shared bucket, so made-up names cannot flood the log.
      ['_unknown', undefined, 403, 'tenant-mismatch', '/api/v1/sessions'],
    ]);
    const text = JSON.stringify(refused);
    for (const t of [forged, bigcorp, otherTeam]) for (const part of t.split('.')) expect(text).not.toContain(part);
  });

  it('reports health and readiness, naming no tenant', async () => {
    expect((await call(api.base, 'GET', '/healthz', { tenant: null, team: null })).body).toEqual({ status: 'ok' });
    const ready = await call(api.base, 'GET', '/readyz', { tenant: null, team: null });
    expect(ready.status).toBe(200);
    expect(ready.text).toBe('{"status":"ready"}');
  });

  it("injects a message into the caller's channel, then lists, reads and deletes the session", async () => {
    const sent = await call(api.base, 'POST', '/api/v1/messages', { token, body: { env: 'prod', channel: 'slack', user: 'api-user', text: 'hello' } });
    expect(sent.status).toBe(200);
    expect(sent.body.replies).toEqual(['Welcome to ACME Support! How can I help?']);
    const session = sent.body.session as string;
    const list = await call(api.base, 'GET', '/api/v1/sessions?env=prod', { token });
    expect(list.body.sessions).toContain(session);
    const one = await call(api.base, 'GET', `/api/v1/sessions/${session}?env=prod`, { token });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      session,
      env: 'prod',
      team: 'support',
      channel: 'slack',
      user: 'api-user',
      turns: 1,
      waiting_at: 'acme_support_flow/ask_issue',
    });
    expect(one.body.transcript.map((e: { from: string; text: string }) => `${e.from}: ${e.text}`)).toEqual([
      'user: hello',
      'bot: Welcome to ACME Support! How can I help?',
    ]);
    expect((await call(api.base, 'DELETE', `/api/v1/sessions/${session}?env=prod`, { token })).status).toBe(204);
    expect((await call(api.base, 'GET', `/api/v1/sessions/${session}?env=prod`, { token })).status).toBe(404);
  });

  it('pages the session list', async () => {
    for (let i = 0; i < 3; i++)
      await call(api.base, 'POST', '/api/v1/messages', { token, body: { env: 'prod', channel: 'telegram', user: `pager${i}`, text: 'hi' } });
    const first = await call(api.base, 'GET', '/api/v1/sessions?env=prod&limit=2', { token });
    expect(first.body.sessions).toHaveLength(2);
    const second = await call(api.base, 'GET', `/api/v1/sessions?env=prod&limit=2&after=${first.body.next}`, { token });
    expect(second.body.sessions.length).toBeGreaterThan(0);
    expect(second.body.sessions).not.toContain(first.body.sessions[0]);
  });

  it("lists the tenant's flows with the caller's channels", async () => {
    const r = await call(api.base, 'GET', '/api/v1/flows', { token });
    expect(r.status).toBe(200);
    const support = r.body.flows.find((f: { name: string }) => f.name === 'acme_support_flow');
    expect(support).toMatchObject({ version: '1.0', start: 'greet', channels: ['slack', 'telegram'] });
    expect(r.body.flows.map((f: { name: string }) => f.name).sort()).toEqual(['acme_sales_flow', 'acme_support_flow']);
  });

  it("gives the caller its own tenant's usage and nobody else's", async () => {
    await api.t.say({ tenant: 'bigcorp', env: 'prod', team: 'helpdesk', channel: 'webchat' }, 'other', 'hi');
    await api.t.host.sessions.flush();
    const r = await call(api.base, 'GET', '/api/v1/usage', { token });
    expect(r.status).toBe(200);
    expect(r.body.tenant).toBe('acme');
    expect(Object.keys(r.body).sort()).toEqual(['bytes_stored', 'envs', 'since', 'tenant', 'totals']);
    expect(Object.keys(r.body.envs).sort()).toEqual(['prod', 'staging']);
    const fields = [
      'access_denials',
      'guest_call_seconds',
      'messages_in',
      'messages_out',
      'node_calls',
      'node_errors',
      'sessions_expired',
      'turn_errors',
      'turns',
    ];
    expect(Object.keys(r.body.totals).sort()).toEqual(fields);
    // The totals are the sum of the environments'.
    for (const f of fields) expect(r.body.totals[f]).toBeCloseTo(r.body.envs.prod[f] + r.body.envs.staging[f], 9);
    expect(r.body.totals.messages_in).toBeGreaterThan(0);
    expect(r.body.totals.turns).toBeGreaterThan(0);
    expect(r.body.totals.node_calls).toBeGreaterThanOrEqual(r.body.totals.turns);
    expect(r.body.totals.guest_call_seconds).toBeGreaterThan(0);
    expect(r.body.bytes_stored).toBeGreaterThan(0);
    expect(r.text).not.toContain('bigcorp');
  });

  it("exposes per-tenant Prometheus metrics to the operator's token only", async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: METRICS_TOKEN }, { authorization: `Bearer ${METRICS_TOKEN}x` }]) {
      const refused = await call(api.base, 'GET', '/metrics', { tenant: null, team: null, headers });
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual({ error: { code: 'missing-token', message: 'the metrics endpoint needs its Bearer token' } });
    }
    const r = await call(api.base, 'GET', '/metrics', { tenant: null, team: null, headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(r.status).toBe(200);
    for (const series of [
      /greentic_messages_in_total\{tenant="acme",env="prod",team="support",channel="slack"\} \d+/,
      /greentic_messages_out_total\{tenant="bigcorp",env="prod",team="helpdesk",channel="webchat"\} \d+/,
      /greentic_node_invocations_total\{tenant="acme",env="prod",team="support",component="reply"\} \d+/,
      /greentic_node_duration_seconds_bucket\{le="0\.5",tenant="acme",env="prod",team="support",component="ask"\} \d+/,
      /greentic_turn_duration_seconds_count\{tenant="acme",env="prod",team="support"\} \d+/,
      /greentic_live_instances\{tenant="acme"\} [1-9]\d*/,
    ]) {
      expect(r.text).toMatch(series);
    }
  });

  it('mints tokens for operators with `token issue`', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), stdin: process.stdin };
    const code = await main(
      [
        'token',
        'issue',
        '--bundle',
        api.t.host.workspace.root,
        '--data',
        api.t.dataDir,
        '--tenant',
        'acme',
        '--team',
        'support',
        '--env',
        'prod',
        '--scope',
        'read',
        '--ttl',
        '5m',
      ],
      io,
    );
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const minted = out[0]!;
    expect((await call(api.base, 'GET', '/api/v1/sessions?env=prod', { token: minted })).status).toBe(200);
    // read only: writing is refused
    const write = await call(api.base, 'POST', '/api/v1/messages', { token: minted, body: { env: 'prod', channel: 'slack', user: 'x', text: 'hi' } });
    expect(write).toMatchObject({ status: 403, body: { error: { code: 'insufficient-scope' } } });
    // asymmetric tenants need their private key
    const noKey = await main(
      ['token', 'issue', '--bundle', api.t.host.workspace.root, '--data', api.t.dataDir, '--tenant', 'bigcorp', '--team', 'helpdesk', '--scope', 'read'],
      io,
    );
    expect(noKey).toBe(1);
    expect(err.at(-1)).toMatch(/signs with RS256: pass its private key with --key FILE/);
  });
});
