import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { CapabilityError } from '../../dist/capabilities/errors.js';
import { messagingImports } from '../../dist/capabilities/messaging/host.js';
import { secretsImports } from '../../dist/capabilities/secrets/host.js';
import { stateImports } from '../../dist/capabilities/state/host.js';
import { main } from '../../dist/cli/main.js';
import { ComponentCatalog } from '../../dist/components/catalog.js';
import { loadTenantFlows } from '../../dist/flow/loader.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR } from '../../dist/paths.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { componentDenial, effectivePermissions, tenantDenial } from '../../dist/tenancy/grants.js';
import { acmeClaims, ACME_SECRET, sign } from '../support/api.js';
import { copyExamples, writeFiles } from '../support/bundle.js';
import { startHost, type TestHost } from '../support/host.js';
import { ID_SHAPED_PROTOTYPE_NAMES, NON_ID_PROTOTYPE_NAMES, PROTOTYPE_NAMES } from '../support/prototype-names.js';
import { ACME_CTX, testScope } from '../support/scope.js';

const builtins = { sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR };
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
const q = (s: string) => JSON.stringify(s);

async function bundleWith(files: Record<string, string | object>) {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  writeFiles(b.dir, files);
  return b.dir;
}

/** What the refusal of `name` where config expects an id of `kind` says (a `__proto__` key is refused before its kind is known). */
function refusal(kind: string, name: string, asKey = true) {
  return name === '__proto__' && asKey
    ? expect.stringMatching(/the key "__proto__" is not allowed$/)
    : expect.stringContaining(`invalid ${kind} id ${q(name)}`);
}

it('the names tried include every Object.prototype property, and both kinds occur', () => {
  for (const n of [...Object.getOwnPropertyNames(Object.prototype), '__proto__', 'prototype']) expect(PROTOTYPE_NAMES).toContain(n);
  expect(ID_SHAPED_PROTOTYPE_NAMES).toEqual(expect.arrayContaining(['constructor', 'tostring', 'valueof', 'hasownproperty', 'prototype', 'length']));
  expect(NON_ID_PROTOTYPE_NAMES).toEqual(expect.arrayContaining(['__proto__', 'toString', 'hasOwnProperty', '__defineGetter__']));
});

describe('config: a prototype name is only ever a name the tenant wrote', () => {
  it('no such name is granted, visible or permitted unless the tenant grants it', async () => {
    const ws = await loadWorkspace(await bundleWith({}));
    const catalog = await ComponentCatalog.load(builtins, ws);
    const acme = ws.tenants.get('acme')!;
    const reply = catalog.builtins.get('reply')!.manifest;
    for (const name of PROTOTYPE_NAMES) {
      expect(tenantDenial(acme, name)).toBe(`component "${name}" is not granted to tenant "acme" (grants.components)`);
      expect(componentDenial(acme, 'support', name)).toBe(`component "${name}" is not granted to tenant "acme" (grants.components)`);
      expect(catalog.resolve('acme', name)).toBeUndefined();
      const p = effectivePermissions(acme, 'prod', {
        ...reply,
        name,
        capabilities: { ...reply.capabilities, secrets: ['crm_token'], wasi: ['wasi:cli/environment'] },
      });
      expect([...p.secrets, ...p.wasi]).toEqual([]);
      expect(ws.tenants.get(name)).toBeUndefined();
    }
  });

  it.each(PROTOTYPE_NAMES)('%j as an env, team, channel, flow, component grant and secret name of a tenant', async (name) => {
    const n = q(name);
    const dir = await bundleWith({
      'tenants/acme/teams/support.yaml': 'team: support\nchannels: { slack: { provider: slack, flow: acme_support_flow } }\n',
      'tenants/acme/teams/sales.yaml': 'team: sales\nchannels: { teams: { provider: teams, flow: acme_sales_flow } }\n',
      'tenants/acme/tenant.yaml': [
        'tenant: acme',
        `environments: { prod: {}, ${n}: {} }`,
        `teams: { ${n}: { channels: { web: { provider: webchat, flow: acme_support_flow } } }, extra: { channels: { ${n}: { provider: webchat, flow: acme_support_flow }, byflow: { provider: slack, flow: ${n} } } } }`,
        `grants: { components: { reply: {}, ask: {}, branch: {}, ${n}: {} }, secrets: { reply: { names: [${n}] } } }`,
        '',
      ].join('\n'),
    });
    const ws = await loadWorkspace(dir);
    const acme = ws.tenants.get('acme');
    const messages = ws.problems.map(formatProblem);
    if (ID_SHAPED_PROTOTYPE_NAMES.includes(name)) {
      expect(messages).toEqual([]);
      expect(acme!.envs.has(name)).toBe(true);
      expect(acme!.teams.get(name)!.channels.has('web')).toBe(true);
      expect(acme!.teams.get('extra')!.channels.has(name)).toBe(true);
      expect(acme!.grants.components.has(name)).toBe(true);
      expect([...acme!.grants.secrets.get('reply')!.names]).toEqual([name]);
      // Granting one prototype name grants no other.
      for (const other of PROTOTYPE_NAMES) if (other !== name) expect(tenantDenial(acme!, other)).not.toBeNull();
      // A channel naming a flow that does not exist is unavailable, whatever the flow's name.
      const flows = await loadTenantFlows(acme!, await ComponentCatalog.load(builtins, ws));
      expect(flows.unavailable.get('extra/byflow')).toMatch(new RegExp(`^tenant "acme" has no flow "${name}" \\(expected .*flows/${name}\\.yaml\\)$`));
    } else {
      expect(acme).toBeUndefined();
      if (name === '__proto__') expect(messages).toEqual([expect.stringMatching(/tenant\.yaml: [a-z.]+\.__proto__: the key "__proto__" is not allowed$/)]);
      else for (const kind of ['env', 'team', 'channel', 'flow', 'component', 'secret']) expect(messages).toContainEqual(refusal(kind, name));
    }
  });

  it.each(PROTOTYPE_NAMES)('%j as a tenant (folder and inline), a component folder, a flow file and a flow node type', async (name) => {
    const shaped = ID_SHAPED_PROTOTYPE_NAMES.includes(name);
    const dir = await bundleWith({
      [`tenants/${name}/tenant.yaml`]: `tenant: ${q(name)}\nenvironments: { prod: {} }\n`,
      [`tenants/acme/components/${name}/manifest.yaml`]: `name: ${q(name)}\nversion: 1.0.0\nwasm: x.wasm\nsha256: ${'a'.repeat(64)}\n`,
      'tenants/acme/flows/probe.yaml': `name: probe\nversion: "1"\nstart: a\nnodes: [{ id: a, type: ${q(name)} }]\n`,
      [`tenants/acme/flows/${name}.yaml`]: `name: ${q(name)}\nversion: "1"\nstart: a\nnodes: [{ id: a, type: reply, config: { message: hi } }]\n`,
    });
    const ws = await loadWorkspace(dir);
    const catalog = await ComponentCatalog.load(builtins, ws);
    const messages = [...ws.problems, ...catalog.problems].map(formatProblem);
    const flows = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    const flowProblems = flows.problems.filter((p) => p.file.endsWith('probe.yaml')).map((p) => p.message);
    if (shaped) {
      expect(ws.tenants.get(name)?.id).toBe(name);
      expect(catalog.resolve('acme', name)?.origin).toBe('tenant');
      expect(catalog.resolve('bigcorp', name)).toBeUndefined();
      expect(flowProblems).toEqual([`component "${name}" is not granted to tenant "acme" (grants.components)`]);
      expect(flows.flows.get(name)?.name).toBe(name);
    } else {
      expect(ws.tenants.get(name)).toBeUndefined();
      expect(messages).toContainEqual(expect.stringContaining(`invalid tenant id ${q(name)} (directory name)`));
      expect(messages).toContainEqual(expect.stringContaining(`invalid component id ${q(name)} (directory name)`));
      expect(flowProblems).toEqual([refusal('component', name, false)]);
      expect(flows.problems.map(formatProblem)).toContainEqual(expect.stringContaining(`: name: invalid flow id ${q(name)}`));
    }
    const inline = await bundleWith({ 'bundle.yaml': `workspace: w\ntenants: { ${q(name)}: { environments: { prod: {} } } }\n` });
    if (name === '__proto__') await expect(loadWorkspace(inline)).rejects.toThrowError(/bundle\.yaml: tenants\.__proto__: the key "__proto__" is not allowed$/);
    else {
      const w = await loadWorkspace(inline);
      if (shaped) expect([...w.tenants.keys()]).toContain(name);
      else expect(w.problems.map(formatProblem)).toContainEqual(expect.stringContaining(`invalid tenant id ${q(name)}`));
    }
  });
});

describe('the command line', () => {
  const data = mkdtempSync(join(tmpdir(), 'greentic-proto-'));
  async function cli(args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), stdin: process.stdin });
    return { code, out, err };
  }
  it.each(PROTOTYPE_NAMES)('%j as a command, a --tenant and a --team', async (name) => {
    // "call" is a command of ours as well as a Function.prototype name: it runs as itself.
    if (name !== 'call') {
      const command = await cli([name]);
      expect(command.code).toBe(2);
      expect(command.err[0]).toMatch(/^greentic-host: unknown command /);
    }
    const tenant = await cli(['secrets', 'list', '--data', data, `--tenant=${name}`]);
    const team = await cli(['secrets', 'list', '--data', data, '--tenant', 'acme', `--team=${name}`]);
    if (ID_SHAPED_PROTOTYPE_NAMES.includes(name)) {
      expect(tenant).toMatchObject({ code: 0, err: [`0 secrets in ${name}/`] });
      expect(team).toMatchObject({ code: 0, err: [`0 secrets in acme/teams/${name}/`] });
    } else {
      expect(tenant.code).toBe(2);
      expect(tenant.err[0]).toContain(`invalid tenant id ${q(name)} in --tenant`);
      expect(team.code).toBe(2);
      expect(team.err[0]).toContain(`invalid team id ${q(name)} in --team`);
    }
  });
});

describe('HTTP, ingress and capability calls', () => {
  let t: TestHost;
  let app: FastifyInstance;
  let base: string;
  let token: string;
  beforeAll(async () => {
    t = await startHost({ workers: 1, spare: false });
    await t.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'api_jwt_secret', ACME_SECRET);
    app = await createHttpServer(t.host, { replyTimeoutMs: 20_000 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    token = await sign(acmeClaims());
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });
  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as { error?: { code: string } } });

  it.each(PROTOTYPE_NAMES)('%j in webchat paths, cookies and bodies, and API headers, paths and bodies', async (name) => {
    const enc = encodeURIComponent(name);
    for (let i = 0; i < 4; i++) {
      const parts = ['bigcorp', 'prod', 'helpdesk', 'webchat'];
      parts[i] = enc;
      const r = await json(
        await fetch(`${base}/webchat/${parts.join('/')}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"hi"}' }),
      );
      expect([r.status, r.body.error?.code]).toEqual(ID_SHAPED_PROTOTYPE_NAMES.includes(name) ? [404, 'unknown-channel'] : [400, 'invalid-id']);
    }
    const webchat = `${base}/webchat/bigcorp/prod/helpdesk/webchat/messages`;
    const extraKey = await json(await fetch(webchat, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"text":"hi",${q(name)}:1}` }));
    // fastify's JSON parser refuses a "__proto__" key outright; any other extra key is the body's problem.
    expect([extraKey.status, extraKey.body.error?.code]).toEqual([400, name === '__proto__' ? 'invalid-json' : 'invalid-body']);
    // A cookie naming a prototype is never followed: no session (the next message starts a fresh one).
    const forged = await fetch(webchat.replace(/messages$/, 'history'), { headers: { cookie: `greentic_webchat=v1.${name}.x` } });
    expect([forged.status, await forged.json()]).toEqual([200, { session: null, transcript: [], ended: false }]);

    const api = (path: string, headers: Record<string, string>, body?: unknown) =>
      fetch(`${base}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'x-tenant-id': 'acme',
          'x-team-id': 'support',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(json);
    const shaped = ID_SHAPED_PROTOTYPE_NAMES.includes(name);
    expect((await api('/api/v1/flows', { 'x-tenant-id': name })).body.error?.code).toBe(shaped ? 'tenant-mismatch' : 'invalid-id');
    expect((await api('/api/v1/flows', { 'x-team-id': name })).body.error?.code).toBe(shaped ? 'team-not-allowed' : 'invalid-id');
    expect((await api(`/api/v1/sessions/${enc}?env=prod`, {})).body.error?.code).toBe(shaped ? 'not-found' : 'invalid-request');
    expect((await api(`/api/v1/sessions?env=${enc}`, {})).body.error?.code).toBe(shaped ? 'env-not-allowed' : 'invalid-request');
    const msg = { env: 'prod', channel: 'slack', user: 'u1', text: 'hi' };
    expect((await api('/api/v1/messages', {}, { ...msg, channel: name })).body.error?.code).toBe(shaped ? 'not-found' : 'invalid-request');
    expect((await api('/api/v1/messages', {}, { ...msg, env: name })).body.error?.code).toBe(shaped ? 'env-not-allowed' : 'invalid-request');
    const asUser = await api('/api/v1/messages', {}, { ...msg, user: name });
    if (shaped) expect(asUser.status).toBe(200);
    else expect(asUser.body.error?.code).toBe('invalid-request');
  });

  it.each(PROTOTYPE_NAMES)('%j as an ingress subject token, body user, session and key', async (name) => {
    const errors: string[] = [];
    const replies: string[] = [];
    const sub = t.host.bus.subscribe('greentic.messaging.egress.>', (m) => {
      const e = JSON.parse(new TextDecoder().decode(m.data)) as { kind: string; message?: string; in_reply_to: string };
      if (e.kind === 'error') errors.push(`${e.in_reply_to}: ${e.message}`);
      if (e.kind === 'reply') replies.push(e.in_reply_to);
    });
    const turnsBefore = t.logs.lines.filter((l) => l.event === 'turn').length;
    const shaped = ID_SHAPED_PROTOTYPE_NAMES.includes(name);
    for (let i = 0; i < 4; i++) {
      const tokens = ['prod', 'acme', 'support', 'slack'];
      tokens[i] = name;
      await t.host.bus.publish(`greentic.messaging.ingress.${tokens.join('.')}`, encodeJson({ id: `m${i}`, user: 'u1', text: 'hi' })).catch(() => undefined);
    }
    await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', encodeJson({ id: 'muser', user: name, text: 'hi' }));
    await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', encodeJson({ id: 'msess', user: 'u1', session: name, text: 'hi' }));
    await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', Buffer.from(`{"id":"mkey","user":"u1","text":"hi",${q(name)}:1}`));
    await t.host.bus.drain();
    sub.unsubscribe();
    expect(errors).toContainEqual(expect.stringMatching(/^mkey: ingress message rejected: /));
    if (shaped) {
      expect(replies).toEqual(expect.arrayContaining(['muser', 'msess']));
      expect(t.logs.lines.filter((l) => l.event === 'turn').length - turnsBefore).toBe(2);
    } else {
      expect(errors).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^muser: ingress message rejected: user: invalid user id/),
          expect.stringMatching(/^msess: ingress message rejected: session: invalid session id/),
        ]),
      );
      expect(t.logs.lines.filter((l) => l.event === 'turn').length - turnsBefore).toBe(0);
    }
  });

  it.each(PROTOTYPE_NAMES)("%j as a guest's state key, secret name and channel", async (name) => {
    const { scope, turn } = testScope();
    const state = stateImports(scope);
    const caught = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        expect(e).toBeInstanceOf(CapabilityError);
        return (e as CapabilityError).payload.tag;
      }
      return 'ok';
    };
    if (ID_SHAPED_PROTOTYPE_NAMES.includes(name)) {
      expect(state.get(ACME_CTX, name)).toBeUndefined();
      state.set(ACME_CTX, name, 'v');
      expect(state.get(ACME_CTX, name)).toBe('v');
      expect(state.listKeys(ACME_CTX)).toEqual([name]);
      expect(state.delete(ACME_CTX, name)).toBe(true);
      expect([...turn.working.keys()]).toEqual([]);
      expect(await caught(() => secretsImports(scope).get(ACME_CTX, name))).toBe('access-denied');
      expect(await caught(() => messagingImports(scope).send(ACME_CTX, name, 'x'))).toBe('access-denied');
    } else {
      expect(await caught(() => state.get(ACME_CTX, name))).toBe('invalid-argument');
      expect(await caught(() => state.set(ACME_CTX, name, 'v'))).toBe('invalid-argument');
      expect(await caught(() => secretsImports(scope).get(ACME_CTX, name))).toBe('invalid-argument');
      expect(await caught(() => messagingImports(scope).send(ACME_CTX, name, 'x'))).toBe('invalid-argument');
    }
    expect(turn.outbox).toEqual([]);
  });
});
