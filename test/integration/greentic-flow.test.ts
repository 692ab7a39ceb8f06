// Greentic components (greentic:component/node@0.6.0) as flow nodes, in real workers: the
// greentic-js fixture (componentize-js, stdio on) under our manifest.yaml ("gjs") and under
// Greentic's component.manifest.json ("slots"), and the WAT greentic-preopens ("dirs").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSessionId } from '../../dist/flow/executor.js';
import type { ChannelAddress } from '../../dist/messaging/subjects.js';
import { GREENTIC_WASI_GRANT, copyExamples, greenticJsManifest, installGreenticComponent, installTenantComponent, writeFiles } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost, type TestHost } from '../support/host.js';

/** One channel of team sales per op of greentic-js, each running a one-node flow with that op. */
const OPS: Array<[string, Record<string, unknown>]> = [
  ['ctx', {}],
  ['stderr', { lines: 3 }],
  ['exit', {}],
  ['fail', {}],
  ['decline', {}],
  ['data', {}],
  ['bad-output', {}],
  ['env', {}],
  ['echo', {}],
];
const id = (op: string) => op.replace('-', '_');
const sales = (channel: string): ChannelAddress => ({ tenant: 'acme', env: 'prod', team: 'sales', channel });

const bundle = copyExamples();
let t: TestHost;

beforeAll(async () => {
  installTenantComponent(bundle.dir, 'acme', 'greentic-js', 'gjs');
  installTenantComponent(bundle.dir, 'acme', 'greentic-preopens', 'dirs');
  installGreenticComponent(bundle.dir, 'acme', 'greentic-js', 'slots', greenticJsManifest());
  const flows: Record<string, object> = {};
  for (const [op, config] of OPS) {
    const nodes: object[] = [{ id: 'n', type: 'gjs', config: { op, ...config }, ...(op === 'data' ? { next: 'after' } : {}) }];
    if (op === 'data') nodes.push({ id: 'after', type: 'reply', config: { message: 'after data', end: true } });
    flows[`tenants/acme/flows/g_${id(op)}.yaml`] = { name: `g_${id(op)}`, version: '1', start: 'n', nodes };
  }
  writeFiles(bundle.dir, {
    ...flows,
    'tenants/acme/tenant.yaml': {
      tenant: 'acme',
      settings: { timezone: 'Europe/Paris', language: 'fr-FR' },
      environments: { prod: {}, staging: { settings: { language: 'fr-BE' } } },
      grants: {
        components: { reply: null, ask: null, branch: null, gjs: GREENTIC_WASI_GRANT, slots: GREENTIC_WASI_GRANT, dirs: { wasi: ['wasi:filesystem/*'] } },
      },
    },
    'tenants/acme/teams/sales.yaml': {
      team: 'sales',
      channels: {
        ...Object.fromEntries(OPS.map(([op]) => [`op_${id(op)}`, { provider: 'webchat', flow: `g_${id(op)}` }])),
        dirs: { provider: 'webchat', flow: 'g_dirs' },
        slots: { provider: 'webchat', flow: 'g_slots' },
      },
    },
    // greet (default op echo) -> route to billing -> ask, wait, then reply twice and end.
    'tenants/acme/flows/acme_support_flow.yaml': {
      name: 'acme_support_flow',
      version: '1',
      start: 'greet',
      nodes: [
        { id: 'greet', type: 'gjs', config: { prefix: 'Hi' }, next: 'triage' },
        { id: 'triage', type: 'gjs', config: { op: 'route', route: 'billing' }, routes: [{ when: 'billing', to: 'ask' }] },
        { id: 'ask', type: 'gjs', config: { op: 'ask', question: 'What is your name?' } },
      ],
    },
    'tenants/acme/flows/g_dirs.yaml': { name: 'g_dirs', version: '1', start: 'n', nodes: [{ id: 'n', type: 'dirs' }] },
    'tenants/acme/flows/g_slots.yaml': {
      name: 'g_slots',
      version: '1',
      start: 'a',
      nodes: [
        { id: 'a', type: 'slots', config: { prefix: 'Slots' }, next: 'b' },
        { id: 'b', type: 'slots', config: { op: 'route', route: 'done' }, routes: [{ when: 'done', to: 'c' }] },
        { id: 'c', type: 'reply', config: { message: 'routed', end: true } },
      ],
    },
  });
  t = await startHost({ bundleDir: bundle.dir, workers: 2 });
  expect(t.host.problems).toEqual([]);
});
afterAll(async () => {
  await t?.close();
  bundle.cleanup();
});

describe('a Greentic component as a flow node', () => {
  it('runs a conversation: default op, route, wait and resume, end', async () => {
    expect(replies(await t.say(ACME_SLACK, 'g1', 'hello'))).toEqual(['Hi: hello', 'routing to billing', 'What is your name?']);
    expect(replies(await t.say(ACME_SLACK, 'g1', 'Ann'))).toEqual(['Nice to meet you, Ann.', 'Goodbye.']);
    expect(replies(await t.say(ACME_SLACK, 'g1', 'again'))).toEqual(['Hi: again', 'routing to billing', 'What is your name?']);
  });

  it("runs under Greentic's own component.manifest.json: default_operation, op and config checked at load", async () => {
    expect(replies(await t.say(sales('slots'), 's1', 'hey'))).toEqual(['Slots: hey', 'routing to done', 'routed']);
  });

  it('gets a ctx built from the bound scope, and the payload { message, config, resumed, locale }', async () => {
    const t0 = Date.now();
    const [text] = replies(await t.say(sales('op_ctx'), 'u-ctx', 'who am I?'));
    const seen = JSON.parse(text!) as Record<string, unknown>;
    expect(seen).toMatchObject({
      tenant: 'acme',
      team: 'sales',
      user: 'u-ctx',
      env: 'prod',
      correlation: defaultSessionId('op_ctx', 'u-ctx'),
      attempt: 0,
      i18n: 'fr-FR',
      flow: 'g_ctx',
      step: 'n',
      component: 'gjs',
      envelopeAttempt: 0,
      metadata: null,
      payload: {
        message: { text: 'who am I?', user: 'u-ctx', channel: 'op_ctx' },
        config: {},
        resumed: false,
        locale: { language: 'fr-FR', timezone: 'Europe/Paris' },
      },
    });
    expect(seen.trace).toMatch(/^[0-9a-f]{32}$/);
    expect(seen.idempotency).toMatch(/^[0-9a-f]{32}$/);
    // An absolute deadline: the tenant's 1000 ms cap from when the call was sent.
    expect(seen.deadline).toBeGreaterThanOrEqual(t0 + 1000);
    expect(seen.deadline).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("is told its environment's language over the tenant's (settings layer), on the ctx and in the payload", async () => {
    const [text] = replies(await t.say({ ...sales('op_ctx'), env: 'staging' }, 'u-loc', 'hi'));
    const seen = JSON.parse(text!) as { i18n: string; payload: { locale: unknown } };
    expect(seen.i18n).toBe('fr-BE');
    expect(seen.payload.locale).toEqual({ language: 'fr-BE', timezone: 'Europe/Paris' });
  });

  it('maps outputs and errors: data only proceeds, node-error, ok: false, unmappable output', async () => {
    expect(replies(await t.say(sales('op_data'), 'u1', 'x'))).toEqual(['after data']);
    expect(await t.say(sales('op_fail'), 'u1', 'x')).toMatchObject({ ok: false, code: 'bad-input', message: 'cannot handle "x"', retryable: true });
    expect(await t.say(sales('op_decline'), 'u1', 'x')).toMatchObject({ ok: false, code: 'declined', message: 'the component declined', retryable: false });
    expect(await t.say(sales('op_bad_output'), 'u1', 'x')).toMatchObject({
      ok: false,
      code: 'invalid-output',
      message:
        'component "gjs" (op "bad-output") returned a number; expected a text string, a list of text strings, or a map with text, replies, route, wait or end',
    });
  });
});

describe("a Greentic component's WASI sandbox", () => {
  it('has an empty environment, no arguments and no working directory', async () => {
    expect(replies(await t.say(sales('op_env'), 'u1', 'x'))).toEqual(['environment: 0 variables, 0 arguments, cwd none']);
  });

  it('preopens no directories (wasi:filesystem/preopens@0.2.6, served as 0.2.3)', async () => {
    expect(replies(await t.say(sales('dirs'), 'u1', 'x'))).toEqual(['directories: 0']);
    const loaded = t.logs.lines.find((l) => l.event === 'component-loaded' && l.component === 'dirs');
    expect(loaded).toMatchObject({
      tenant_id: 'acme',
      world: 'greentic-component-node',
      ops: ['directories'],
      wasi_mapped: ['wasi:filesystem/types@0.2.6 -> 0.2.3', 'wasi:filesystem/preopens@0.2.6 -> 0.2.3'],
    });
  });

  it("writes stdout and stderr into the tenant's log, with the call's scope", async () => {
    const r = await t.say(sales('op_stderr'), 'u-err', 'x');
    expect(replies(r)).toEqual(['wrote 3 lines']);
    const scope = { tenant_id: 'acme', env_id: 'prod', team_id: 'sales', session_id: r.session, flow: 'g_stderr', node: 'n', component: 'gjs' };
    const lines = t.logs.lines.filter((l) => l.session_id === r.session && String(l.event).startsWith('guest-'));
    expect(lines.map((l) => [l.event, l.msg])).toEqual([
      ['guest-stderr', 'line 1 of 3 from tenant acme'],
      ['guest-stderr', 'line 2 of 3 from tenant acme'],
      ['guest-stderr', 'line 3 of 3 from tenant acme'],
      ['guest-stdout', 'stdout from n'],
    ]);
    for (const l of lines) expect(l).toMatchObject(scope);
    expect(lines[0]!.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('ends only the call on exit: a node error, and the host and its worker keep serving', async () => {
    const exited = await t.say(sales('op_exit'), 'u1', 'x');
    expect(exited).toMatchObject({ ok: false, code: 'guest-exit', message: 'component "gjs" called exit (status err); the call ends here', retryable: false });
    expect(replies(await t.say(sales('op_echo'), 'u1', 'still there?'))).toEqual(['echo: still there?']);
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u-exit', 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    // A fresh instance exits the same way; no worker died.
    expect(await t.say(sales('op_exit'), 'u1', 'x')).toMatchObject({ ok: false, code: 'guest-exit' });
    expect(t.logs.lines.filter((l) => l.event === 'worker-exit' || l.event === 'worker-error')).toEqual([]);
  });
});

describe('how fast', () => {
  it('measures warm turns through a Greentic JS node', async () => {
    await t.say(sales('op_echo'), 'bench', 'warm-up');
    const ms: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      expect(replies(await t.say(sales('op_echo'), 'bench', `m${i}`))).toEqual([`echo: m${i}`]);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    console.log(`greentic-js echo turn: p50 ${ms[15]!.toFixed(1)} ms, p90 ${ms[27]!.toFixed(1)} ms (30 turns, session store included)`);
  });
});
