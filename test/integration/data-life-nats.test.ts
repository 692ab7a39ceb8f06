import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSessionId } from '../../dist/flow/executor.js';
import { sessionKey } from '../../dist/stores/keys.js';
import { copyExamples, replaceExactly } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost, type TestHost } from '../support/host.js';
import { natsClient } from '../support/nats-client.js';
import { startNats, type NatsServer } from '../support/nats.js';

process.env.GREENTIC_MASTER_KEY = 'cd'.repeat(32);
/** Make a stored session look idle since `msAgo` (no test waits out an idle time: a busy machine would make that flaky). */
async function age(h: TestHost, key: ReturnType<typeof sessionKey>, msAgo: number): Promise<void> {
  const s = (await h.host.sessions.get(key))!;
  await h.host.sessions.put(key, { ...s.record, updated_at: Date.now() - msAgo }, s.revision);
}

/** Every message a stream still holds, by sequence, as text: each KV revision of a bucket is one. */
async function streamTexts(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    try {
      const m = await jsm.streams.getMessage(stream, { seq });
      out.push(`${m.subject} ${Buffer.from(m.data).toString('latin1')}`);
    } catch (e) {
      if (!/no message found|not found/i.test((e as Error).message)) throw e;
    }
  }
  return out;
}

let nats: NatsServer;
let h: TestHost;
let bundle: { dir: string; cleanup: () => void };
beforeAll(async () => {
  nats = await startNats();
  bundle = copyExamples();
  const tenantFile = join(bundle.dir, 'tenants/acme/tenant.yaml');
  writeFileSync(tenantFile, replaceExactly(readFileSync(tenantFile, 'utf8'), '    concurrency: 2\n', '    sessions: { idle_ttl: 60 }\n    concurrency: 2\n'));
  h = await startHost({ bundleDir: bundle.dir, nats: { url: nats.url }, workers: 1, spare: false, expiry: { intervalMs: 3_600_000 } });
  expect(h.host.problems).toEqual([]);
});
afterAll(async () => {
  await h?.close();
  bundle?.cleanup();
  await nats?.dispose();
});

describe('NATS: a tenant data over its life', () => {
  it('an idle session expires: the next message starts anew, and the sweep removes the KV entry', async () => {
    replies(await h.say(ACME_SLACK, 'ivy', 'hello'));
    expect(replies(await h.say(ACME_SLACK, 'ivy', 'my invoice'))).toEqual(['Sorry about the billing trouble. What is the email on your account?']);
    const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'ivy'));
    await age(h, key, 61_000);
    expect(replies(await h.say(ACME_SLACK, 'ivy', 'ivy@example.com'))).toEqual(['Welcome to ACME Support! How can I help?']);
    await h.host.expiry.tickNow();
    expect(await h.host.sessions.get(key)).not.toBeNull();
    await age(h, key, 61_000);
    await h.host.expiry.tickNow();
    expect(await h.host.sessions.get(key)).toBeNull();
    const client = await natsClient(nats.url);
    try {
      const jsm = await jetstreamManager(client.nc);
      expect((await streamTexts(jsm, 'KV_greentic_sessions_acme')).filter((t) => t.includes(key.session))).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('erasing a user leaves no KV revision with their text; erasing a tenant purges only its own buckets', async () => {
    replies(await h.say(ACME_SLACK, 'alice', 'hello'));
    replies(await h.say(ACME_SLACK, 'alice', 'walrus-alice-phrase invoice'));
    replies(await h.say(ACME_SLACK, 'bob', 'bob-stays-phrase'));
    replies(await h.say(BIGCORP_WEBCHAT, 'carol', 'carol-bigcorp-phrase'));
    await h.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'acme_key', 'acme-secret-value');
    await h.host.secrets.set({ kind: 'tenant', tenant: 'bigcorp' }, 'big_key', 'bigcorp-secret-value');
    const client = await natsClient(nats.url);
    try {
      const jsm = await jetstreamManager(client.nc);
      const sessionsOf = async (t: string) => (await streamTexts(jsm, `KV_greentic_sessions_${t}`)).join('\n');
      expect(await sessionsOf('acme')).toContain('walrus-alice-phrase');

      expect(await h.host.data.erase('acme', { kind: 'user', user: 'alice' }, 'test')).toEqual({ sessions: 1, dead_letters: 0 });
      const after = await sessionsOf('acme');
      expect(after).not.toContain('walrus-alice-phrase');
      expect(after).toContain('bob-stays-phrase');

      const removed = await h.host.data.erase('acme', { kind: 'all' }, 'test');
      expect(removed).toEqual({ sessions: 1, dead_letters: 0, secrets: 1 });
      expect((await jsm.streams.info('KV_greentic_sessions_acme')).state.messages).toBe(0);
      expect((await jsm.streams.info('KV_greentic_secrets_acme')).state.messages).toBe(0);
      expect((await jsm.streams.info('GREENTIC_EGRESS_acme')).state.messages).toBe(0);
      // bigcorp keeps everything.
      expect(await sessionsOf('bigcorp')).toContain('carol-bigcorp-phrase');
      expect(await h.host.secrets.get({ kind: 'tenant', tenant: 'bigcorp' }, 'big_key')).toBe('bigcorp-secret-value');
      // acme still runs: a new conversation starts.
      expect(replies(await h.say(ACME_SLACK, 'bob', 'hello'))).toEqual(['Welcome to ACME Support! How can I help?']);
    } finally {
      await client.close();
    }
  });
});
