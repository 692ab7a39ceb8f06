import fc from 'fast-check';
import { CRAFTED_IDS } from './crafted-ids.js';
import { PROTOTYPE_NAMES } from './prototype-names.js';
import { ATTACKERS, ENV, TEAM, TENANTS, USERS, type Tenant, type TenantVault } from './attack-world.js';

/** The capability functions a guest can call, with the arguments each takes. */
export const GUEST_FNS = ['secrets.get', 'state.get', 'state.set', 'state.delete', 'state.list-keys', 'messaging.send', 'log.write'] as const;
/** The ctx fields the host binds; a guest that changes any of them must be refused. */
export const BOUND_FIELDS = ['tenantId', 'envId', 'teamId', 'sessionId', 'userId'] as const;

export interface GuestCall {
  fn: (typeof GUEST_FNS)[number];
  args: unknown[];
  ctx?: Record<string, unknown>;
  repeat?: number;
}
export type AttackOp =
  | { door: 'guest'; by: Tenant; user: string; calls: GuestCall[] }
  | { door: 'rest'; by: Tenant; method: string; path: string; headers: Record<string, string>; body?: string }
  | { door: 'webchat'; by: Tenant; method: 'GET' | 'POST'; path: string; cookie?: string; body?: string };

/** What an attacker knows of its victims: their names and session ids (never their markers or credentials). */
export interface Knowledge {
  readonly vaults: ReadonlyMap<Tenant, TenantVault>;
}

const others = (k: Knowledge, by: Tenant) => [...k.vaults.values()].filter((v) => v.tenant !== by);

/** Ids an attacker tries anywhere an id goes: the victims' names and sessions, crafted ids, prototype names, overlong and random text. */
export function idArb(k: Knowledge, by: Tenant): fc.Arbitrary<string> {
  const victimSessions = others(k, by).flatMap((v) => [v.slackSession, v.webchatSession]);
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...TENANTS, ENV, 'staging', TEAM, 'helpdesk', 'slack', 'webchat', 'vault', 'note', 'api_key', ...victimSessions) },
    { weight: 2, arbitrary: fc.constantFrom(...CRAFTED_IDS.map(([id]) => id), ...PROTOTYPE_NAMES) },
    { weight: 1, arbitrary: fc.constantFrom(...victimSessions).map((s) => `../${s}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
    { weight: 1, arbitrary: fc.integer({ min: 63, max: 5000 }).map((n) => 'a'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom('acme\u212a', 'bigcorp\u0000', 'ａｃｍｅ', 'cedar%2e%2e', 'acme/../bigcorp', '%00', '') },
  );
}

function guestCallArb(k: Knowledge, by: Tenant): fc.Arbitrary<GuestCall> {
  const id = idArb(k, by);
  const text = fc.oneof(fc.string({ maxLength: 40 }), id);
  const args: Record<GuestCall['fn'], fc.Arbitrary<unknown[]>> = {
    'secrets.get': fc.tuple(fc.oneof(fc.constantFrom('api_key', 'api_jwt_secret', 'shared_key'), id)),
    'state.get': fc.tuple(id),
    'state.set': fc.tuple(id, text),
    'state.delete': fc.tuple(id),
    'state.list-keys': fc.constant([]),
    'messaging.send': fc.tuple(fc.oneof(fc.constantFrom('slack', 'webchat'), id), text),
    'log.write': fc.tuple(fc.constantFrom('debug', 'info', 'warn', 'error', 'fatal'), text),
  };
  const ctxValue = fc.oneof({ weight: 6, arbitrary: id }, { weight: 1, arbitrary: fc.constant(null) });
  const ctx = fc.option(
    fc.record(
      { tenantId: ctxValue, envId: ctxValue, teamId: ctxValue, sessionId: ctxValue, userId: ctxValue, traceId: fc.string({ maxLength: 40 }) },
      { requiredKeys: [] },
    ),
    { freq: 2, nil: undefined },
  );
  return fc
    .constantFrom(...GUEST_FNS)
    .chain((fn) => fc.record({ fn: fc.constant(fn), args: args[fn], ctx, repeat: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }) }))
    .map((c) => JSON.parse(JSON.stringify(c)) as GuestCall);
}

function guestArb(k: Knowledge, by: Tenant): fc.Arbitrary<AttackOp> {
  return fc.record({
    door: fc.constant('guest' as const),
    by: fc.constant(by),
    user: fc.constantFrom(...USERS),
    calls: fc.array(guestCallArb(k, by), { minLength: 1, maxLength: 6 }),
  });
}

/** Tokens an attacker holds or can make: its own, none, garbage, alg none, its own re-signed claims for a victim. */
function authorizationArb(k: Knowledge, by: Tenant): fc.Arbitrary<string | undefined> {
  const own = k.vaults.get(by)!.token;
  const [h, , s] = own.split('.');
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = (tenant: string) => ({ tenant, teams: [TEAM], envs: [ENV], scope: 'admin', iss: 'greentic-host', aud: 'greentic-api', exp: 4102444800 });
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(`Bearer ${own}`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom(...TENANTS).map((t) => `Bearer ${h}.${b64(claims(t))}.${s}`) },
    { weight: 1, arbitrary: fc.constantFrom(...TENANTS).map((t) => `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims(t))}.`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((x) => `Bearer ${x}`) },
    { weight: 1, arbitrary: fc.constantFrom(`bearer ${own}`, `Basic ${Buffer.from('acme:x').toString('base64')}`, `Bearer  ${own}`, own) },
  );
}

function restPathArb(k: Knowledge, by: Tenant): fc.Arbitrary<{ method: string; path: string; body?: string }> {
  const id = idArb(k, by);
  const seg = fc.oneof({ weight: 3, arbitrary: id.map(encodeURIComponent) }, { weight: 1, arbitrary: id });
  const env = fc.oneof({ weight: 3, arbitrary: fc.constant(ENV) }, { weight: 1, arbitrary: seg });
  const message = fc.record({
    env: fc.oneof(fc.constant(ENV), id),
    channel: fc.oneof(fc.constantFrom('slack', 'webchat'), id),
    user: fc.oneof(fc.constantFrom(...USERS), id),
    text: fc.oneof(fc.string({ maxLength: 30 }), fc.constant(JSON.stringify({ calls: [{ fn: 'secrets.get', args: ['api_key'] }], next: 'wait' }))),
    session: fc.option(id, { nil: undefined }),
  });
  return fc.oneof(
    fc.tuple(env, fc.option(fc.integer({ min: -1, max: 2000 }), { nil: undefined }), fc.option(seg, { nil: undefined })).map(([e, limit, after]) => ({
      method: 'GET',
      path: `/api/v1/sessions?env=${e}${limit === undefined ? '' : `&limit=${limit}`}${after === undefined ? '' : `&after=${after}`}`,
    })),
    fc.tuple(fc.constantFrom('GET', 'DELETE'), seg, env).map(([method, s, e]) => ({ method, path: `/api/v1/sessions/${s}?env=${e}` })),
    fc.constantFrom('/api/v1/flows', '/api/v1/usage', '/healthz', '/readyz', '/metrics', '/api/v1/openapi.json').map((path) => ({ method: 'GET', path })),
    fc
      .oneof(
        message.map((m) => JSON.stringify(m)),
        fc.string({ maxLength: 40 }),
      )
      .map((body) => ({ method: 'POST', path: '/api/v1/messages', body })),
    fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'), seg).map(([method, s]) => ({ method, path: `/api/v1/${s}` })),
  );
}

function restArb(k: Knowledge, by: Tenant): fc.Arbitrary<AttackOp> {
  const id = idArb(k, by);
  const header = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...TENANTS, TEAM, 'helpdesk') },
    { weight: 1, arbitrary: id.filter((x) => /^[\x21-\x7e]*$/.test(x)) },
  );
  return fc
    .record({
      p: restPathArb(k, by),
      authorization: authorizationArb(k, by),
      tenant: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constant(by as string) }, { weight: 2, arbitrary: header }), { freq: 8, nil: undefined }),
      team: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constant(TEAM) }, { weight: 1, arbitrary: header }), { freq: 8, nil: undefined }),
      cookie: fc.option(cookieArb(k, by), { freq: 4, nil: undefined }),
    })
    .map(({ p, authorization, tenant, team, cookie }) => {
      const headers: Record<string, string> = {};
      if (authorization !== undefined) headers.authorization = authorization;
      if (tenant !== undefined) headers['x-tenant-id'] = tenant;
      if (team !== undefined) headers['x-team-id'] = team;
      if (cookie !== undefined) headers.cookie = cookie;
      if (p.body !== undefined) headers['content-type'] = 'application/json';
      return { door: 'rest' as const, by, method: p.method, path: p.path, headers, body: p.body };
    });
}

/** Cookie headers an attacker can present: none of a victim's real cookies, but its own moved, edited and forged. */
function cookieArb(k: Knowledge, by: Tenant): fc.Arbitrary<string> {
  const own = k.vaults.get(by)!.webchatCookie;
  const [, value] = own.split('=') as [string, string];
  const [v, , mac] = value.split('.');
  const victims = others(k, by).map((o) => o.webchatSession);
  return fc.oneof(
    fc.constantFrom(...victims).map((s) => `greentic_webchat=${v}.${s}.${mac}`),
    fc.tuple(fc.constantFrom(...victims), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)).map(([s, m]) => `greentic_webchat=v1.${s}.${m}`),
    fc.string({ maxLength: 80 }).map((x) => `greentic_webchat=${x}`),
    fc.constantFrom(...victims).map((s) => `greentic_webchat=${s}; greentic_webchat=${value}`),
    fc.constantFrom(`greentic_webchat=${value}`, `__proto__=${value}`, 'greentic_webchat', '=;=;', `greentic_webchat=${value.toUpperCase()}`),
  );
}

function webchatArb(k: Knowledge, by: Tenant): fc.Arbitrary<AttackOp> {
  const id = idArb(k, by);
  const seg = fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: id.map(encodeURIComponent) });
  return fc
    .record({
      tenant: fc.constantFrom(...TENANTS),
      postTo: fc.constantFrom(...ATTACKERS),
      env: seg,
      team: seg,
      channel: fc.oneof(
        { weight: 6, arbitrary: fc.constant('webchat') },
        { weight: 1, arbitrary: fc.constantFrom('slack', 'telegram') },
        { weight: 1, arbitrary: id.map(encodeURIComponent) },
      ),
      what: fc.constantFrom('page', 'history', 'history', 'post', 'post', 'post'),
      cookie: fc.option(cookieArb(k, by), { freq: 2, nil: undefined }),
      body: fc.oneof(
        { weight: 4, arbitrary: fc.string({ maxLength: 40 }).map((text) => JSON.stringify({ text })) },
        { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
        { weight: 1, arbitrary: fc.constantFrom('{"text":"x","__proto__":{"a":1}}', '{"text":["x"]}', '{}', 'null') },
      ),
    })
    .map((r) => {
      // Anyone may chat on a public webchat, which is that tenant's own work: posts go to the attackers' channels, so
      // that the calm tenant's latency measures what attacks cost it, not the chats of its own visitors.
      const tenant = r.what === 'post' ? r.postTo : r.tenant;
      const path = `/webchat/${tenant}/${r.env ?? ENV}/${r.team ?? TEAM}/${r.channel}${r.what === 'post' ? '/messages' : r.what === 'history' ? '/history' : ''}`;
      const post = r.what === 'post';
      // An attacker's own cookie names its own vault session: posting with it would change its own vault (legitimately), so it only reads with it.
      const cookie = post && r.cookie === k.vaults.get(by)!.webchatCookie ? undefined : r.cookie;
      return { door: 'webchat' as const, by, method: post ? ('POST' as const) : ('GET' as const), path, cookie, body: post ? r.body : undefined };
    });
}

/** One operation of a random attacker through a random door. */
export function attackOpArb(k: Knowledge): fc.Arbitrary<AttackOp> {
  return fc.constantFrom(...ATTACKERS).chain((by) => fc.oneof(guestArb(k, by), restArb(k, by), webchatArb(k, by)));
}
