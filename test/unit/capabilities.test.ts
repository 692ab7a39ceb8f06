import { describe, expect, it } from 'vitest';
import { CapabilityError } from '../../dist/capabilities/errors.js';
import { logImports } from '../../dist/capabilities/log/host.js';
import { messagingImports } from '../../dist/capabilities/messaging/host.js';
import { secretsImports } from '../../dist/capabilities/secrets/host.js';
import { stateImports } from '../../dist/capabilities/state/host.js';
import { DEFAULT_LIMITS } from '../../dist/tenancy/model.js';
import { ACME_CTX, memorySecrets, testScope } from '../support/scope.js';

/** Run `f` and return the guest-visible error it raised. */
async function guestError(f: () => unknown): Promise<{ tag: string; val: string }> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(CapabilityError);
    return (e as CapabilityError).payload;
  }
  throw new Error('expected a capability error');
}

describe('every capability compares the guest ctx with the bound scope', () => {
  const forgeries: Array<[string, object]> = [
    ['tenant', { ...ACME_CTX, tenantId: 'bigcorp' }],
    ['env', { ...ACME_CTX, envId: 'staging' }],
    ['team', { ...ACME_CTX, teamId: 'sales' }],
    ['team', { ...ACME_CTX, teamId: undefined }],
    ['session', { ...ACME_CTX, sessionId: 's2' }],
    ['user', { ...ACME_CTX, userId: 'u2' }],
    ['trace', { ...ACME_CTX, traceId: '1'.repeat(32) }],
  ];
  it.each(forgeries)('a ctx with another %s is access-denied everywhere, logged with both scopes', async (field, forged) => {
    const { scope, logs, stats } = testScope({ perms: { secrets: new Set(['k']) }, state: { a: '1' } });
    const calls: Array<() => unknown> = [
      () => secretsImports(scope).get(forged, 'k'),
      () => stateImports(scope).get(forged, 'a'),
      () => stateImports(scope).set(forged, 'a', 'x'),
      () => stateImports(scope).delete(forged, 'a'),
      () => stateImports(scope).listKeys(forged),
      () => messagingImports(scope).send(forged, 'slack', 'hi'),
      () => logImports(scope).write(forged, 'info', 'hi'),
    ];
    for (const call of calls) {
      const err = await guestError(call);
      expect(err.tag).toBe('access-denied');
      expect(err.val).toContain(`ctx names ${field}`);
      expect(err.val).toContain('but this call is bound to');
    }
    expect(stats.denialCount).toBe(calls.length);
    expect(scope.turn.working.get('a')).toBe('1');
    expect(scope.turn.outbox).toEqual([]);
    const denial = logs.lines.find((l) => l.event === 'access-denied')!;
    expect(denial).toMatchObject({ tenant_id: 'acme', env_id: 'prod', team_id: 'support', session_id: 's1', bound_scope: 'acme/prod/support' });
    expect(denial.requested_scope).toBeTypeOf('string');
  });

  it('a ctx that is not a record at all is refused', async () => {
    const { scope } = testScope();
    expect((await guestError(() => stateImports(scope).get('acme', 'a'))).val).toContain('not a tenant-ctx record');
    expect((await guestError(() => stateImports(scope).get(null, 'a'))).tag).toBe('access-denied');
  });
});

describe('state', () => {
  it("reads and writes the turn's working memory", () => {
    const { scope, turn } = testScope({ state: { name: 'Ann' } });
    const s = stateImports(scope);
    expect(s.get(ACME_CTX, 'name')).toBe('Ann');
    expect(s.get(ACME_CTX, 'missing')).toBeUndefined();
    s.set(ACME_CTX, 'email', 'a@b.c');
    expect(s.listKeys(ACME_CTX)).toEqual(['email', 'name']);
    expect(s.delete(ACME_CTX, 'name')).toBe(true);
    expect(s.delete(ACME_CTX, 'name')).toBe(false);
    expect(Object.fromEntries(turn.working)).toEqual({ email: 'a@b.c' });
    expect(scope.stateKey).toBe('state:acme:prod:support:s1');
  });

  it('enforces the manifest: none, read, write', async () => {
    const none = testScope({ perms: { state: 'none' } }).scope;
    expect(await guestError(() => stateImports(none).get(ACME_CTX, 'a'))).toEqual({
      tag: 'access-denied',
      val: 'state.get: component "probe" may not read state (manifest capabilities.state is "none")',
    });
    const read = testScope({ perms: { state: 'read' } }).scope;
    expect(stateImports(read).listKeys(ACME_CTX)).toEqual([]);
    expect((await guestError(() => stateImports(read).set(ACME_CTX, 'a', 'b'))).val).toBe(
      'state.set: component "probe" may not write state (manifest capabilities.state is "read")',
    );
  });

  it('refuses crafted keys and oversized values', async () => {
    const { scope } = testScope();
    const s = stateImports(scope);
    for (const key of ['../x', 'a:b', 'A', '', 'a'.repeat(64)]) expect((await guestError(() => s.set(ACME_CTX, key, 'v'))).tag).toBe('invalid-argument');
    const big = 'x'.repeat(DEFAULT_LIMITS.maxStateValueBytes + 1);
    expect(await guestError(() => s.set(ACME_CTX, 'big', big))).toEqual({
      tag: 'limit-exceeded',
      val: `state.set: value of "big" is ${big.length} bytes; the limit is ${DEFAULT_LIMITS.maxStateValueBytes}`,
    });
  });

  it('counts capability calls against the limit', async () => {
    const { scope } = testScope({ perms: { limits: { ...DEFAULT_LIMITS, maxCapabilityCalls: 3 } } });
    const s = stateImports(scope);
    for (let i = 0; i < 3; i++) s.get(ACME_CTX, 'a');
    expect(await guestError(() => s.get(ACME_CTX, 'a'))).toEqual({
      tag: 'limit-exceeded',
      val: 'state.get: more than 3 capability calls in one component call',
    });
  });
});

describe('secrets', () => {
  const store = memorySecrets({
    'acme/teams/support/k': 'team-value',
    'acme/t': 'tenant-value',
    'global/g': 'global-value',
    'global/k2': 'global-k2',
    'bigcorp/b': 'bigcorp-value',
  });

  it('resolves team, then tenant', async () => {
    const { scope } = testScope({ perms: { secrets: new Set(['k', 't']) }, secrets: store });
    expect(await secretsImports(scope).get(ACME_CTX, 'k')).toBe('team-value');
    expect(await secretsImports(scope).get(ACME_CTX, 't')).toBe('tenant-value');
  });

  it('reads global/ only for names granted from global', async () => {
    const plain = testScope({ perms: { secrets: new Set(['g']) }, secrets: store }).scope;
    expect(await guestError(() => secretsImports(plain).get(ACME_CTX, 'g'))).toEqual({ tag: 'not-found', val: 'secrets.get: no secret "g" for acme/support' });
    const granted = testScope({ perms: { secrets: new Set(['g']), globalSecrets: new Set(['g']) }, secrets: store }).scope;
    expect(await secretsImports(granted).get(ACME_CTX, 'g')).toBe('global-value');
  });

  it('refuses names the component was not granted, and never reaches other tenants', async () => {
    const { scope, stats } = testScope({ perms: { secrets: new Set(['k']) }, secrets: store });
    expect(await guestError(() => secretsImports(scope).get(ACME_CTX, 'b'))).toEqual({
      tag: 'access-denied',
      val: 'secrets.get: secret "b" is not granted to component "probe" of tenant "acme"',
    });
    expect(stats.denialCount).toBe(1);
    const granted = testScope({ perms: { secrets: new Set(['b']) }, secrets: store }).scope;
    expect((await guestError(() => secretsImports(granted).get(ACME_CTX, 'b'))).tag).toBe('not-found');
    expect((await guestError(() => secretsImports(granted).get(ACME_CTX, '../bigcorp/b'))).tag).toBe('invalid-argument');
  });

  it('reports a failing store as unavailable without details', async () => {
    const failing = { ...memorySecrets(), get: async () => Promise.reject(new Error('disk on fire: /data/secrets/acme/k.secret')) };
    const { scope, logs } = testScope({ perms: { secrets: new Set(['k']) }, secrets: failing });
    expect(await guestError(() => secretsImports(scope).get(ACME_CTX, 'k'))).toEqual({
      tag: 'unavailable',
      val: 'secrets.get: secret "k" cannot be read right now',
    });
    expect(logs.text()).toContain('disk on fire');
  });
});

describe('messaging', () => {
  it('queues messages to channels of the bound team only', async () => {
    const { scope, turn } = testScope({ channels: ['slack', 'telegram'] });
    const m = messagingImports(scope);
    m.send(ACME_CTX, 'telegram', 'hello');
    expect(turn.outbox).toEqual([{ channel: 'telegram', text: 'hello' }]);
    expect(await guestError(() => m.send(ACME_CTX, 'webchat', 'x'))).toEqual({
      tag: 'access-denied',
      val: 'messaging.send: channel "webchat" is not a channel of team acme/support in prod',
    });
    expect((await guestError(() => m.send(ACME_CTX, 'greentic.messaging.egress.prod.bigcorp.helpdesk.webchat', 'x'))).tag).toBe('invalid-argument');
    expect((await guestError(() => m.send(ACME_CTX, '*', 'x'))).tag).toBe('invalid-argument');
  });

  it('needs the manifest to ask for messaging, and bounds output', async () => {
    const off = testScope({ perms: { messaging: false } }).scope;
    expect((await guestError(() => messagingImports(off).send(ACME_CTX, 'slack', 'x'))).tag).toBe('access-denied');
    const small = testScope({ perms: { limits: { ...DEFAULT_LIMITS, maxOutputBytes: 10 } } }).scope;
    messagingImports(small).send(ACME_CTX, 'slack', '12345');
    expect((await guestError(() => messagingImports(small).send(ACME_CTX, 'slack', '1234567'))).tag).toBe('limit-exceeded');
  });
});

describe('log', () => {
  it('tags lines with the bound scope, whatever the guest writes', () => {
    const { scope, logs } = testScope();
    logImports(scope).write(ACME_CTX, 'warn', 'tenant_id=bigcorp pretending');
    const line = logs.lines.find((l) => l.event === 'guest-log')!;
    expect(line).toMatchObject({
      level: 40,
      tenant_id: 'acme',
      env_id: 'prod',
      team_id: 'support',
      session_id: 's1',
      component: 'probe',
      msg: 'tenant_id=bigcorp pretending',
    });
  });

  it('refuses bad levels and components that did not ask to log', async () => {
    const { scope } = testScope();
    expect((await guestError(() => logImports(scope).write(ACME_CTX, 'fatal', 'x'))).tag).toBe('invalid-argument');
    const off = testScope({ perms: { log: false } }).scope;
    expect((await guestError(() => logImports(off).write(ACME_CTX, 'info', 'x'))).tag).toBe('access-denied');
  });
});
