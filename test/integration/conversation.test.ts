import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode } from 'cbor-x';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSessionId } from '../../dist/flow/executor.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost, type TestHost } from '../support/host.js';

let t: TestHost;
beforeAll(async () => {
  t = await startHost();
});
afterAll(async () => {
  await t.close();
});

describe("a message for a tenant runs that tenant's flow", () => {
  it('acme: greets, asks, branches on the answer, and finishes', async () => {
    expect(replies(await t.say(ACME_SLACK, 'u1', 'hello'))).toEqual(['Welcome to ACME Support! How can I help?']);
    expect(replies(await t.say(ACME_SLACK, 'u1', 'My invoice is wrong'))).toEqual(['Sorry about the billing trouble. What is the email on your account?']);
    expect(replies(await t.say(ACME_SLACK, 'u1', 'ann@example.com'))).toEqual([
      'Thanks! A billing specialist will write to ann@example.com within one business day.',
    ]);
    // The flow ended: the next message starts it again.
    expect(replies(await t.say(ACME_SLACK, 'u1', 'hi again'))).toEqual(['Welcome to ACME Support! How can I help?']);
  });

  it('bigcorp: its own flow, with another branch', async () => {
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u9', 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u9', 'the printer jams'))).toEqual(['Which asset tag is on the device?']);
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u9', 'BC-77'))).toEqual(['Hardware ticket opened for asset BC-77. Bring it to the IT desk on floor 2.']);
  });

  it('keeps the session in CBOR at sessions/{tenant}/{env}/{team}/{session}.cbor', async () => {
    const r = await t.say(ACME_SLACK, 'u2', 'hello');
    expect(r.ok && r.session).toBe(defaultSessionId('slack', 'u2'));
    await t.say(ACME_SLACK, 'u2', 'cannot log in');
    const file = join(t.dataDir, 'sessions', 'acme', 'prod', 'support', `${defaultSessionId('slack', 'u2')}.cbor`);
    await t.host.sessions.flush();
    const { record } = decode(readFileSync(file)) as { record: Record<string, unknown> };
    expect(record).toMatchObject({ tenant: 'acme', env: 'prod', team: 'support', channel: 'slack', user: 'u2', turns: 2, state: { issue: 'cannot log in' } });
    expect(record.cursor).toEqual({ flow: 'acme_support_flow', node: 'ask_username', waiting: true });
    expect(existsSync(join(t.dataDir, 'sessions', 'bigcorp', 'prod', 'support'))).toBe(false);
  });

  it('keeps users, channels and environments apart', async () => {
    await t.say(ACME_SLACK, 'u3', 'hello');
    // Same user id on another channel, and in staging: separate sessions, each starting fresh.
    expect(replies(await t.say({ ...ACME_SLACK, channel: 'telegram' }, 'u3', 'hello'))).toEqual(['Welcome to ACME Support! How can I help?']);
    expect(replies(await t.say({ ...ACME_SLACK, env: 'staging' }, 'u3', 'hello'))).toEqual(['Welcome to ACME Support! How can I help?']);
    await t.host.sessions.flush();
    expect(existsSync(join(t.dataDir, 'sessions', 'acme', 'staging', 'support', `${defaultSessionId('slack', 'u3')}.cbor`))).toBe(true);
    expect(replies(await t.say(ACME_SLACK, 'u3', 'refund please'))).toEqual(['Sorry about the billing trouble. What is the email on your account?']);
  });

  it('answers a redelivered message once', async () => {
    const ends: string[] = [];
    const sub = t.host.bus.subscribe('greentic.messaging.egress.prod.acme.support.slack', (m) => {
      const body = JSON.parse(new TextDecoder().decode(m.data)) as { kind: string; in_reply_to: string };
      if (body.in_reply_to === 'm-dup-1') ends.push(body.kind);
    });
    for (let i = 0; i < 3; i++) {
      await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', encodeJson({ id: 'm-dup-1', user: 'u4', text: 'hello' }));
      await t.host.bus.drain();
    }
    sub.unsubscribe();
    expect(ends).toEqual(['reply', 'turn-end']);
    expect(t.logs.lines.filter((l) => l.event === 'duplicate' && l.message_id === 'm-dup-1')).toHaveLength(2);
  });

  it('serialises turns of one session: concurrent messages both land, in order', async () => {
    const [a, b] = await Promise.all([t.say(ACME_SLACK, 'u5', 'hello'), t.say(ACME_SLACK, 'u5', 'password reset')]);
    expect(replies(a)).toEqual(['Welcome to ACME Support! How can I help?']);
    expect(replies(b)).toEqual(["Let's get you back in. What is your username?"]);
  });

  it('answers a malformed body with an error on egress, not a crash', async () => {
    const errors: string[] = [];
    const sub = t.host.bus.subscribe('greentic.messaging.egress.prod.acme.support.slack', (m) => {
      const body = JSON.parse(new TextDecoder().decode(m.data)) as { kind: string; message?: string };
      if (body.kind === 'error') errors.push(body.message!);
    });
    await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', new TextEncoder().encode('not json'));
    await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', encodeJson({ id: 'm1', user: 'U1', text: 'x' }));
    await t.host.bus.publish('greentic.messaging.ingress.prod.acme.support.slack', encodeJson({ id: 'm2', user: 'u1', text: 'x', tenant: 'bigcorp' }));
    await t.host.bus.drain();
    sub.unsubscribe();
    expect(errors[0]).toMatch(/^ingress message rejected: not JSON/);
    expect(errors[1]).toMatch(/^ingress message rejected: user: invalid user id "U1"/);
    expect(errors[2]).toMatch(/^ingress message rejected: body: Unrecognized key: "tenant"/);
  });

  it('refuses a channel that is not configured, and drops malformed subjects', async () => {
    const r = await t.say({ ...ACME_SLACK, channel: 'webchat' }, 'u1', 'hello');
    expect(r).toMatchObject({ ok: false, code: 'unknown-channel', message: 'team "acme/support" has no channel "webchat"' });
    await t.host.bus.publish('greentic.messaging.ingress.PROD.acme.support.slack', encodeJson({ id: 'm3', user: 'u1', text: 'x' }));
    await t.host.bus.drain();
    expect(t.logs.lines.some((l) => l.event === 'bad-subject')).toBe(true);
  });

  it('logs every turn with the tenant fields', () => {
    const turns = t.logs.lines.filter((l) => l.event === 'turn');
    expect(turns.length).toBeGreaterThan(5);
    for (const l of turns) {
      expect(l.tenant_id).toMatch(/^(acme|bigcorp)$/);
      expect(l.env_id).toBeTypeOf('string');
      expect(l.team_id).toBeTypeOf('string');
      expect(l.session_id).toBeTypeOf('string');
    }
  });
});
