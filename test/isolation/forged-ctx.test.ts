import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSessionId } from '../../dist/flow/executor.js';
import { copyExamples, installTenantComponent, writeFiles } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost, type TestHost } from '../support/host.js';

// acme's sales channel runs the hand-written WAT forger; its support channel runs the prober.
const ACME_SALES = { tenant: 'acme', env: 'prod', team: 'sales', channel: 'teams' };
const bundle = copyExamples();
let t: TestHost;

beforeAll(async () => {
  installTenantComponent(bundle.dir, 'acme', 'forger');
  installTenantComponent(bundle.dir, 'acme', 'prober');
  // This prober asks only for api_key: shared_key is neither requested nor granted.
  const manifest = join(bundle.dir, 'tenants/acme/components/prober/manifest.yaml');
  writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('secrets: [api_key, shared_key]', 'secrets: [api_key]'));
  writeFiles(bundle.dir, {
    'tenants/acme/tenant.yaml': {
      tenant: 'acme',
      environments: { prod: {}, staging: {} },
      grants: {
        components: { reply: null, ask: null, branch: null, forger: null, prober: null },
        secrets: { forger: { names: ['api_key'] }, prober: { names: ['api_key'] } },
      },
    },
    'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'forge', nodes: [{ id: 'forge', type: 'forger' }] },
    'tenants/acme/flows/acme_support_flow.yaml': { name: 'acme_support_flow', version: '1', start: 'p', nodes: [{ id: 'p', type: 'prober' }] },
  });
  t = await startHost({ bundleDir: bundle.dir });
  expect(t.host.problems).toEqual([]);
});
afterAll(async () => {
  await t?.close();
  bundle.cleanup();
});

type Outcome = { fn: string; ok?: unknown; err?: { tag: string; val: string }; thrown?: string };

/** Run the prober on acme's support channel with `calls`; returns one outcome per call. */
async function probe(calls: object[], user = 'p1'): Promise<Outcome[]> {
  return JSON.parse(replies(await t.say(ACME_SLACK, user, JSON.stringify({ calls })))[0]!) as Outcome[];
}

describe("a guest that forges another tenant's ctx is refused, not obeyed", () => {
  it('the WAT forger gets access-denied from every capability; the control call with the real ctx succeeds', async () => {
    // bigcorp has a conversation with state of its own first.
    await t.say(BIGCORP_WEBCHAT, 'victim', 'hi');
    await t.say(BIGCORP_WEBCHAT, 'victim', 'my vpn is broken');
    const bigcorpFile = join(t.dataDir, 'sessions', 'bigcorp', 'prod', 'helpdesk', `${defaultSessionId('webchat', 'victim')}.cbor`);
    await t.host.sessions.flush();
    const before = readFileSync(bigcorpFile);

    expect(replies(await t.say(ACME_SALES, 'attacker', 'go'))).toEqual([
      'secrets.get access-denied',
      'state.get access-denied',
      'state.set access-denied',
      'state.delete access-denied',
      'state.list-keys access-denied',
      'messaging.send access-denied',
      'log.write access-denied',
      'control state.get ok',
    ]);
    await t.host.sessions.flush();
    expect(readFileSync(bigcorpFile).equals(before)).toBe(true);
    // Each refusal is counted and logged with both scopes.
    const denials = t.logs.lines.filter((l) => l.event === 'access-denied' && l.component === 'forger');
    expect(denials.map((l) => l.capability)).toEqual([
      'secrets.get',
      'state.get',
      'state.set',
      'state.delete',
      'state.list-keys',
      'messaging.send',
      'log.write',
    ]);
    for (const d of denials) {
      expect(d).toMatchObject({
        tenant_id: 'acme',
        bound_scope: 'acme/prod/sales',
        requested_scope: 'bigcorp/prod/sales',
        reason: 'ctx names tenant "bigcorp" but this call is bound to tenant "acme"',
      });
    }
    expect(t.host.metrics.denialCount).toBeGreaterThanOrEqual(7);
    // Nothing the forger tried to send went anywhere.
    expect(t.logs.lines.some((l) => l.event === 'guest-log' && l.component === 'forger')).toBe(false);
  });
});

describe('the prober attacks every door through the real sandbox', () => {
  const forged: Array<[string, object]> = [
    ['tenant', { tenantId: 'bigcorp' }],
    ['env', { envId: 'staging' }],
    ['team', { teamId: 'helpdesk' }],
    ['team', { teamId: null }],
    ['session', { sessionId: defaultSessionId('webchat', 'victim') }],
    ['user', { userId: 'victim' }],
  ];
  it.each(forged)('a forged %s is access-denied on every function', async (field, ctx) => {
    const calls = [
      { fn: 'secrets.get', args: ['api_key'], ctx },
      { fn: 'state.get', args: ['issue'], ctx },
      { fn: 'state.set', args: ['issue', 'pwned'], ctx },
      { fn: 'state.delete', args: ['issue'], ctx },
      { fn: 'state.list-keys', args: [], ctx },
      { fn: 'messaging.send', args: ['slack', 'pwned'], ctx },
      { fn: 'log.write', args: ['info', 'pwned'], ctx },
    ];
    const out = await probe(calls);
    expect(out).toHaveLength(calls.length);
    for (const o of out) {
      expect(o.err?.tag, JSON.stringify(o)).toBe('access-denied');
      expect(o.err?.val).toContain(`ctx names ${field}`);
    }
  });

  it('crafted ids as arguments are invalid-argument, never a path or a key', async () => {
    const out = await probe([
      { fn: 'state.set', args: ['../../bigcorp/prod/helpdesk/x', 'v'] },
      { fn: 'state.set', args: ['state:bigcorp:prod:helpdesk:s1', 'v'] },
      { fn: 'state.get', args: ['*'] },
      { fn: 'secrets.get', args: ['../bigcorp/api_key'] },
      { fn: 'secrets.get', args: ['global/api_key'] },
      { fn: 'messaging.send', args: ['greentic.messaging.egress.prod.bigcorp.helpdesk.webchat', 'x'] },
      { fn: 'messaging.send', args: ['>', 'x'] },
    ]);
    expect(out.map((o) => o.err?.tag)).toEqual(Array(7).fill('invalid-argument'));
  });

  it('messages go only to channels of the bound team', async () => {
    const out = await probe([
      { fn: 'messaging.send', args: ['webchat', 'to bigcorp?'] },
      { fn: 'messaging.send', args: ['teams', 'to acme sales?'] },
      { fn: 'messaging.send', args: ['telegram', 'fine: same team'] },
    ]);
    expect(out[0]!.err).toEqual({ tag: 'access-denied', val: 'messaging.send: channel "webchat" is not a channel of team acme/support in prod' });
    expect(out[1]!.err?.tag).toBe('access-denied');
    expect(out[2]!.ok).toBeNull();
  });

  it("secrets: only granted names, team then tenant, never another tenant's namespace", async () => {
    await t.host.secrets.set({ kind: 'tenant', tenant: 'bigcorp' }, 'api_key', 'BIGCORP-SECRET');
    await t.host.secrets.set({ kind: 'tenant', tenant: 'bigcorp' }, 'shared_key', 'BIGCORP-SHARED');
    await t.host.secrets.set({ kind: 'global' }, 'api_key', 'GLOBAL-SECRET');
    let out = await probe([
      { fn: 'secrets.get', args: ['api_key'] },
      { fn: 'secrets.get', args: ['shared_key'] },
    ]);
    // Granted but not set for acme: not found (bigcorp's and global values stay out of reach).
    expect(out[0]!.err).toEqual({ tag: 'not-found', val: 'secrets.get: no secret "api_key" for acme/support' });
    // Neither requested by this manifest nor granted by acme.
    expect(out[1]!.err).toEqual({ tag: 'access-denied', val: 'secrets.get: secret "shared_key" is not granted to component "prober" of tenant "acme"' });
    await t.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'api_key', 'acme-tenant');
    await t.host.secrets.set({ kind: 'team', tenant: 'acme', team: 'support' }, 'api_key', 'acme-support');
    out = await probe([{ fn: 'secrets.get', args: ['api_key'] }]);
    expect(out[0]!.ok).toBe('acme-support');
    expect(t.logs.text()).not.toContain('BIGCORP-SECRET');
    expect(t.logs.text()).not.toContain('acme-support');
  });

  it('state calls reach only the bound session', async () => {
    const out = await probe(
      [
        { fn: 'state.set', args: ['mine', 'x'] },
        { fn: 'state.list-keys', args: [] },
      ],
      'p2',
    );
    expect(out[1]!.ok).toEqual(['mine']);
    const other = await probe([{ fn: 'state.list-keys', args: [] }], 'p3');
    expect(other[0]!.ok).toEqual([]);
  });
});
