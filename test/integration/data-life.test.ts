import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import type { DataEvent } from '../../dist/data/data-events.js';
import { WebchatGuard } from '../../dist/messaging/providers/webchat-limits.js';
import { sessionKey, type SessionKey } from '../../dist/stores/keys.js';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { defaultSessionId } from '../../dist/flow/executor.js';
import { ACME_SECRET, acmeClaims, call, sign } from '../support/api.js';
import { copyExamples, replaceExactly } from '../support/bundle.js';
import { countFiles, filesContaining } from '../support/data-search.js';
import { ACME_SLACK, replies, startHost, type TestHost } from '../support/host.js';

/** The example bundle with acme's sessions ending after `idle` seconds idle, and an on_expired greeting in its support flow. */
function bundleWith(sessions: string): { dir: string; cleanup: () => void } {
  const b = copyExamples();
  const tenantFile = join(b.dir, 'tenants/acme/tenant.yaml');
  writeFileSync(tenantFile, replaceExactly(readFileSync(tenantFile, 'utf8'), '    concurrency: 2\n', `    sessions: ${sessions}\n    concurrency: 2\n`));
  const flowFile = join(b.dir, 'tenants/acme/flows/acme_support_flow.yaml');
  const flow = replaceExactly(
    replaceExactly(readFileSync(flowFile, 'utf8'), 'start: greet\n', 'start: greet\non_expired: expired\n'),
    'nodes:\n',
    'nodes:\n  - id: expired\n    type: reply\n    config: { message: "Your last conversation timed out. How can I help now?" }\n    next: ask_issue\n\n',
  );
  writeFileSync(flowFile, flow);
  return b;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Make a stored session look idle since `msAgo` (no test waits out an idle time: a busy machine would make that flaky). */
async function age(h: TestHost, key: ReturnType<typeof sessionKey>, msAgo: number): Promise<void> {
  const s = (await h.host.sessions.get(key))!;
  await h.host.sessions.put(key, { ...s.record, updated_at: Date.now() - msAgo }, s.revision);
}

describe('session expiry on the embedded store', () => {
  let h: TestHost;
  let bundle: { dir: string; cleanup: () => void };
  beforeAll(async () => {
    bundle = bundleWith('{ idle_ttl: 60, max_age: 3600 }');
    h = await startHost({ bundleDir: bundle.dir, workers: 1, spare: false, tenants: ['acme'], expiry: { intervalMs: 3_600_000, perTick: 50 } });
    expect(h.host.problems).toEqual([]);
  });
  afterAll(async () => {
    await h?.close();
    bundle?.cleanup();
  });

  it('an idle session ends: the next message starts anew at the flow on_expired node', async () => {
    expect(replies(await h.say(ACME_SLACK, 'ida', 'hello'))).toEqual(['Welcome to ACME Support! How can I help?']);
    // Within the idle time the conversation goes on.
    expect(replies(await h.say(ACME_SLACK, 'ida', 'my invoice is wrong'))).toEqual(['Sorry about the billing trouble. What is the email on your account?']);
    const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'ida'));
    await age(h, key, 61_000);
    expect(replies(await h.say(ACME_SLACK, 'ida', 'ida@example.com'))).toEqual(['Your last conversation timed out. How can I help now?']);
    const s = await h.host.sessions.get(key);
    expect(s!.record.turns).toBe(1);
    expect(s!.record.transcript!.map((t) => t.text)).toEqual(['ida@example.com', 'Your last conversation timed out. How can I help now?']);
    expect(s!.record.state).toEqual({});
  });

  it('the sweep removes expired sessions and their files', async () => {
    replies(await h.say(ACME_SLACK, 'sam', 'hello'));
    const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'sam'));
    await h.host.sessions.flush();
    expect(filesContaining(h.dataDir, 'sam')).not.toEqual([]);
    // The sweep runs by itself every intervalMs; here one tick is run by hand, after the idle time.
    await h.host.expiry.tickNow();
    expect(await h.host.sessions.get(key)).not.toBeNull();
    await age(h, key, 61_000);
    const told: SessionKey[] = [];
    const stop = h.host.onSessionsRemoved((keys) => told.push(...keys));
    await h.host.expiry.tickNow();
    stop();
    expect(await h.host.sessions.get(key)).toBeNull();
    // Whoever keeps figures per session (the webchat's stored bytes) is told.
    expect(told).toEqual([key]);
    await h.host.sessions.flush();
    expect(filesContaining(join(h.dataDir, 'sessions'), defaultSessionId('slack', 'sam'))).toEqual([]);
    expect(h.logs.lines.filter((l) => l.event === 'data-expire' && l.target === `session:${key.session}`)).toHaveLength(1);
  });
});

describe('transcript retention and redaction', () => {
  it('redacts emails and card numbers before a line is stored, and keeps the last n lines', async () => {
    const bundle = bundleWith('{ transcript: last_n, transcript_lines: 5, redact: [email, card_number] }');
    const h = await startHost({ bundleDir: bundle.dir, workers: 1, spare: false, tenants: ['acme'] });
    try {
      replies(await h.say(ACME_SLACK, 'rex', 'hello, card 4111-1111-1111-1111 was charged twice'));
      replies(await h.say(ACME_SLACK, 'rex', 'I want a refund'));
      // The reply itself still names the address (it is sent, not stored).
      expect(replies(await h.say(ACME_SLACK, 'rex', 'rex.smith@example.com'))).toEqual([
        'Thanks! A billing specialist will write to rex.smith@example.com within one business day.',
      ]);
      const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'rex'));
      const { record } = (await h.host.sessions.get(key))!;
      // Six lines were said; the last five are kept.
      expect(record.transcript!.map((t) => t.text)).toEqual([
        'Welcome to ACME Support! How can I help?',
        'I want a refund',
        'Sorry about the billing trouble. What is the email on your account?',
        '[email]',
        'Thanks! A billing specialist will write to [email] within one business day.',
      ]);
      expect(record.last_turn!.outbox.map((o) => o.text)).toEqual(['Thanks! A billing specialist will write to [email] within one business day.']);
      await h.host.sessions.flush();
      expect(filesContaining(h.dataDir, '4111-1111')).toEqual([]);
      expect(h.logs.text()).not.toContain('4111-1111');
      // The flow's working memory is the flow's: what a component saved there is kept as it was.
      expect(record.state.email).toBe('rex.smith@example.com');
    } finally {
      await h.close();
      bundle.cleanup();
    }
  });

  it('transcript: none keeps no line at all', async () => {
    const bundle = bundleWith('{ transcript: none }');
    const h = await startHost({ bundleDir: bundle.dir, workers: 1, spare: false, tenants: ['acme'] });
    try {
      replies(await h.say(ACME_SLACK, 'nora', 'nothing-kept-phrase'));
      const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'nora'));
      const { record } = (await h.host.sessions.get(key))!;
      expect(record.transcript).toBeUndefined();
      await h.host.sessions.flush();
      expect(filesContaining(h.dataDir, 'nothing-kept-phrase')).toEqual([]);
    } finally {
      await h.close();
      bundle.cleanup();
    }
  });
});

describe('export and erasure of a user through the REST API', () => {
  let h: TestHost;
  let app: FastifyInstance;
  let base: string;
  let bundle: { dir: string; cleanup: () => void };
  const events: DataEvent[] = [];
  const guard = new WebchatGuard();
  beforeAll(async () => {
    bundle = copyExamples();
    h = await startHost({ bundleDir: bundle.dir, workers: 1, spare: false, onDataEvent: (e) => events.push(e) });
    await h.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'api_jwt_secret', ACME_SECRET);
    app = await createHttpServer(h.host, { replyTimeoutMs: 20_000, webchatGuard: guard });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    await h?.close();
    bundle?.cleanup();
  });

  it('needs the admin scope', async () => {
    const token = await sign(acmeClaims({ scope: 'read write' }));
    const r = await call(base, 'DELETE', '/api/v1/users/alice?env=prod', { token });
    expect(r.status).toBe(403);
    expect(r.body).toEqual({ error: { code: 'insufficient-scope', message: 'this needs the "admin" scope; the token has: read write' } });
    const bad = await call(base, 'GET', '/api/v1/users/Alice%2F..%2Fx/export', { token: await sign(acmeClaims({ scope: 'admin' })) });
    expect(bad.status).toBe(400);
  });

  it('exports what is stored of a user, then erases it: no file of the data dir holds their text', async () => {
    const admin = await sign(acmeClaims({ scope: 'admin', envs: ['prod', 'staging'] }));
    replies(await h.say(ACME_SLACK, 'alice', 'hello'));
    replies(await h.say(ACME_SLACK, 'alice', 'zebra-alice-phrase about my invoice'));
    replies(await h.say({ ...ACME_SLACK, env: 'staging' }, 'alice', 'alice-staging-phrase'));
    replies(await h.say(ACME_SLACK, 'bob', 'bob-keeps-phrase'));
    // A message that cannot be handled names alice too: it is kept as a dead letter.
    await h.host.bus.publish(ingressSubject(ACME_SLACK), new TextEncoder().encode('{"id":"m1","user":"alice","text":"alice-letter-phrase","extra":1}'));
    for (let i = 0; i < 50 && (await h.host.deadLetters.list('acme')).length === 0; i++) await sleep(50);
    await h.host.sessions.flush();
    for (const p of ['zebra-alice-phrase', 'alice-staging-phrase', 'alice-letter-phrase']) expect(filesContaining(h.dataDir, p)).not.toEqual([]);

    const exp = await call(base, 'GET', '/api/v1/users/alice/export', { token: admin });
    expect(exp.status).toBe(200);
    expect(exp.body).toMatchObject({ format: 'greentic-host.export.v1', tenant: 'acme', env: null, user: 'alice', session: null });
    expect(exp.body.sessions.map((s: any) => [s.env, s.team, s.channel, s.user, s.turns])).toEqual([
      ['prod', 'support', 'slack', 'alice', 2],
      ['staging', 'support', 'slack', 'alice', 1],
    ]);
    expect(exp.body.sessions[0].transcript.map((t: any) => t.text)).toContain('zebra-alice-phrase about my invoice');
    expect(exp.body.sessions[0].state).toEqual({ issue: 'zebra-alice-phrase about my invoice' });
    expect(exp.body.dead_letters.map((l: any) => [l.reason, l.message])).toEqual([
      ['invalid-message', '{"id":"m1","user":"alice","text":"alice-letter-phrase","extra":1}'],
    ]);
    const nd = await call(base, 'GET', '/api/v1/users/alice/export?env=prod&format=ndjson', { token: admin });
    expect(nd.status).toBe(200);
    const lines = nd.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.kind)).toEqual(['export', 'session', 'dead_letter']);
    expect(lines[0]).toMatchObject({ format: 'greentic-host.export.v1', env: 'prod', user: 'alice' });

    const del = await call(base, 'DELETE', '/api/v1/users/alice', { token: admin });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ user: 'alice', removed: { sessions: 2, dead_letters: 1 } });
    expect(countFiles(h.dataDir)).toBeGreaterThan(0);
    for (const p of ['zebra-alice-phrase', 'alice-staging-phrase', 'alice-letter-phrase']) expect(filesContaining(h.dataDir, p)).toEqual([]);
    expect(filesContaining(h.dataDir, 'bob-keeps-phrase')).not.toEqual([]);
    const again = await call(base, 'GET', '/api/v1/users/alice/export', { token: admin });
    expect(again.body.sessions).toEqual([]);
    expect(events.filter((e) => e.action === 'erase').map((e) => [e.env, e.target, e.actor, e.outcome, e.counts])).toEqual([
      ['prod', { kind: 'user', id: 'alice' }, 'tester', 'ok', { sessions: 1, dead_letters: 1 }],
      ['staging', { kind: 'user', id: 'alice' }, 'tester', 'ok', { sessions: 1, dead_letters: 0 }],
    ]);
    // Alice may start over: her next message is a new conversation.
    expect(replies(await h.say(ACME_SLACK, 'alice', 'hi again'))).toEqual(['Welcome to ACME Support! How can I help?']);
  });

  it('an environment the token does not cover is refused', async () => {
    const admin = await sign(acmeClaims({ scope: 'admin', envs: ['prod'] }));
    const r = await call(base, 'DELETE', '/api/v1/users/alice?env=staging', { token: admin });
    expect(r.status).toBe(403);
    expect(r.body).toEqual({ error: { code: 'env-not-allowed', message: 'the token does not cover environment "staging"' } });
  });

  it("an erased webchat session frees its share of the channel's stored bytes", async () => {
    const bigcorp = { tenant: 'bigcorp', env: 'prod' };
    const before = guard.usage(bigcorp).storedBytes;
    const r = await fetch(`${base}/webchat/bigcorp/prod/helpdesk/webchat/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"text":"hi"}',
    });
    expect(r.status).toBe(200);
    expect(guard.usage(bigcorp).storedBytes).toBeGreaterThan(before);
    expect(await h.host.data.erase('bigcorp', { kind: 'all', env: 'prod' }, 'test')).toMatchObject({ sessions: 1 });
    expect(guard.usage(bigcorp).storedBytes).toBe(0);
  });
});
