import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { copyExamples, writeFiles } from '../support/bundle.js';
import { startHost, type TestHost } from '../support/host.js';

const bundle = copyExamples();
let t: TestHost;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  // A second webchat channel for bigcorp and one for acme, to replay cookies across them.
  writeFiles(bundle.dir, {
    'tenants/acme/teams/sales.yaml': {
      team: 'sales',
      channels: { teams: { provider: 'teams', flow: 'acme_sales_flow' }, webchat: { provider: 'webchat', flow: 'acme_sales_flow' } },
    },
  });
  const bundleYaml = (await import('node:fs')).readFileSync(`${bundle.dir}/bundle.yaml`, 'utf8');
  writeFiles(bundle.dir, {
    'bundle.yaml': bundleYaml.replace(
      '              title: "BigCorp Helpdesk"',
      '              title: "BigCorp Helpdesk"\n          vip:\n            provider: webchat\n            flow: bigcorp_helpdesk_flow',
    ),
  });
  t = await startHost({ bundleDir: bundle.dir });
  expect(t.host.problems).toEqual([]);
  app = await createHttpServer(t.host);
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app?.close();
  await t?.close();
  bundle.cleanup();
});

const BIGCORP = '/webchat/bigcorp/prod/helpdesk/webchat';

async function post(path: string, body: unknown, cookie?: string, contentType = 'application/json') {
  const res = await fetch(`${base}${path}/messages`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(cookie ? { cookie } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const setCookie = res.headers.get('set-cookie');
  return { status: res.status, body: (await res.json()) as Record<string, any>, cookie: setCookie?.split(';')[0], setCookie };
}

describe('the webchat endpoint', () => {
  it('holds a two-turn conversation with a session cookie scoped to the channel', async () => {
    const first = await post(BIGCORP, { text: 'hi' });
    expect(first.status).toBe(200);
    expect(first.body.replies).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    expect(first.setCookie).toMatch(/^greentic_webchat=v1\.w[0-9a-f]{32}\.[\w-]+; Path=\/webchat\/bigcorp\/prod\/helpdesk\/webchat; HttpOnly; SameSite=Strict/);
    const second = await post(BIGCORP, { text: 'wifi keeps dropping' }, first.cookie);
    expect(second.status).toBe(200);
    const reply = 'Network trouble noted. Try reconnecting to the VPN; an engineer will follow up on "wifi keeps dropping".';
    // The flow ends with this reply: the page shows the end of the conversation.
    expect(second.body).toEqual({ session: first.body.session, replies: [reply], messages: [{ text: reply }], ended: true });
    expect(second.setCookie).toBeNull();
  });

  it('never follows a cookie replayed on another channel, of the same tenant or another: a fresh session there', async () => {
    const first = await post(BIGCORP, { text: 'hi' });
    for (const path of ['/webchat/bigcorp/prod/helpdesk/vip', '/webchat/acme/prod/sales/webchat']) {
      const replay = await post(path, { text: 'hi' }, first.cookie);
      expect(replay.status).toBe(200);
      expect(replay.body.session).toMatch(/^w[0-9a-f]{32}$/);
      expect(replay.body.session).not.toBe(first.body.session);
      expect(replay.setCookie).toContain(`greentic_webchat=v1.${replay.body.session}.`);
      expect(replay.setCookie).toContain(`; Path=${path};`);
    }
    // The first session is untouched: its history holds only its own turn.
    const history = await fetch(`${base}${BIGCORP}/history`, { headers: { cookie: first.cookie! } });
    expect(((await history.json()) as { transcript: unknown[] }).transcript).toEqual([
      { from: 'user', text: 'hi' },
      { from: 'bot', text: "BigCorp Helpdesk here. What's your issue?" },
    ]);
  });

  it('answers a forged, tampered or stale cookie with a fresh session and a new cookie', async () => {
    const first = await post(BIGCORP, { text: 'hi' });
    const tampered = `${first.cookie!.slice(0, -2)}xx`;
    for (const cookie of [tampered, 'greentic_webchat=v1.w00000000000000000000000000000000.abc', 'greentic_webchat=v1.../../x.abc', 'greentic_webchat=']) {
      const r = await post(BIGCORP, { text: 'hi' }, cookie);
      expect(r.status, cookie).toBe(200);
      expect(r.body.session).not.toBe(first.body.session);
      expect(r.body.session).not.toBe('w00000000000000000000000000000000');
      expect(r.cookie).toBe(`greentic_webchat=v1.${r.body.session}.${r.cookie!.split('.')[2]}`);
      expect(r.body.replies).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    }
    const history = await fetch(`${base}${BIGCORP}/history`, { headers: { cookie: tampered } });
    expect(await history.json()).toEqual({ session: null, transcript: [], ended: false });
  });

  it('answers bad requests with a JSON error that says what was wrong', async () => {
    expect(await post('/webchat/acme/prod/support/slack', { text: 'hi' })).toMatchObject({ status: 404, body: { error: { code: 'unknown-channel' } } });
    expect(await post('/webchat/nobody/prod/x/y', { text: 'hi' })).toMatchObject({ status: 404, body: { error: { code: 'unknown-channel' } } });
    expect(await post(BIGCORP, { txt: 'hi' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid-body', message: 'the body must be JSON {"text": "..."}' } },
    });
    expect(await post(BIGCORP, { text: 'hi', tenant: 'acme' })).toMatchObject({ status: 400, body: { error: { code: 'invalid-body' } } });
    expect(await post(BIGCORP, '{not json')).toMatchObject({ status: 400 });
    expect(await post(BIGCORP, 'text=hi', undefined, 'application/x-www-form-urlencoded')).toMatchObject({ status: 415 });
    expect(await post(BIGCORP, { text: 'x'.repeat(200_000) })).toMatchObject({ status: 413, body: { error: { code: 'body-too-large' } } });
  });
});
