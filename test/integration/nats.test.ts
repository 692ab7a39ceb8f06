import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decode } from 'cbor-x';
import { converse, newMessageId } from '../../dist/messaging/conversation.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { connectNats } from '../../dist/messaging/nats/connection.js';
import { NatsSessionStore } from '../../dist/stores/nats-session-store.js';
import { RevisionConflictError } from '../../dist/stores/session-store.js';
import { sessionKey } from '../../dist/stores/keys.js';
import { defaultSessionId } from '../../dist/flow/executor.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, startHost, type TestHost } from '../support/host.js';
import { answersById, egressMessages, natsClient } from '../support/nats-client.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { memoryLogger } from '../support/logs.js';
import { sessionRecord } from '../support/session-record.js';

let nats: NatsServer;
const hosts: TestHost[] = [];
beforeAll(async () => {
  nats = await startNats();
});
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});
afterAll(async () => {
  await nats.dispose();
});
const KEY = 'ab'.repeat(32);
process.env.GREENTIC_MASTER_KEY = KEY;

async function natsHost(opts: Record<string, unknown> = {}): Promise<TestHost> {
  const h = await startHost({ nats: { url: nats.url }, workers: 1, spare: false, ...opts });
  hosts.push(h);
  return h;
}
/** Turns an instance logged (call after its bus drained: the turn is logged after its answer). */
const turnsIn = (h: TestHost, tenant?: string) => h.logs.lines.filter((l) => l.event === 'turn' && (tenant === undefined || l.tenant_id === tenant)).length;

describe('NATS: two instances in one deployment', () => {
  it('share a stream of messages for both tenants, each answered exactly once', async () => {
    const [a, b] = [await natsHost(), await natsHost()];
    const client = await natsClient(nats.url);
    const ids: string[] = [];
    const sends = [];
    for (let i = 0; i < 40; i++) {
      const addr = i % 2 ? ACME_SLACK : BIGCORP_WEBCHAT;
      const id = newMessageId();
      ids.push(id);
      sends.push(converse(client, addr, { id, user: `u${i}`, text: 'hello' }, 30_000));
    }
    const answers = await Promise.all(sends);
    expect(answers.every((r) => r.ok && r.replies.length === 1)).toBe(true);
    const counts = answersById(await egressMessages(client.nc));
    for (const id of ids) expect(counts.get(id), id).toBe(1);
    // The work was shared.
    await Promise.all([a.host.bus.drain(), b.host.bus.drain()]);
    expect(turnsIn(a) + turnsIn(b)).toBe(40);
    expect(turnsIn(a)).toBeGreaterThan(0);
    expect(turnsIn(b)).toBeGreaterThan(0);
    await client.close();
  });

  it('continue one conversation across instances, sessions in KV with compare-and-set', async () => {
    await natsHost();
    await natsHost();
    const client = await natsClient(nats.url);
    const said = async (text: string) => {
      const r = await converse(client, ACME_SLACK, { user: 'kv1', text });
      if (!r.ok) throw new Error(r.message);
      return r.replies;
    };
    expect(await said('hello')).toEqual(['Welcome to ACME Support! How can I help?']);
    expect(await said('login broken')).toEqual(["Let's get you back in. What is your username?"]);
    expect(await said('roadrunner')).toEqual(['A password reset link is on its way to the address we have for roadrunner.']);
    const store = await NatsSessionStore.open(client.nc);
    const stored = await store.get(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'kv1')));
    expect(stored?.record).toMatchObject({ turns: 3, state: { issue: 'login broken', username: 'roadrunner' }, cursor: null });
    await client.close();
  });

  it('never lose an update when instances race on one session', async () => {
    await natsHost();
    await natsHost();
    const client = await natsClient(nats.url);
    // 20 messages of one user at once: whichever instance takes each, every turn lands.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => converse(client, ACME_SLACK, { user: 'racer', text: `message ${i}` })));
    expect(results.every((r) => r.ok)).toBe(true);
    const store = await NatsSessionStore.open(client.nc);
    const stored = await store.get(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'racer')));
    expect(stored?.record.turns).toBe(20);
    await client.close();
  });
});

describe('NATS KV session store', () => {
  it('compare-and-set across two connections: exactly one racer wins', async () => {
    const logger = memoryLogger().logger;
    const [c1, c2] = [await connectNats({ url: nats.url }, logger), await connectNats({ url: nats.url }, logger)];
    const [s1, s2] = [await NatsSessionStore.open(c1), await NatsSessionStore.open(c2)];
    const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 'cas1');
    const record = sessionRecord({ session: 'cas1', user: 'u' });
    const rev = await s1.put(key, record, 0);
    const race = await Promise.allSettled([s1.put(key, { ...record, turns: 1 }, rev), s2.put(key, { ...record, turns: 2 }, rev)]);
    expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((race.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(RevisionConflictError);
    await expect(s2.put(key, record, 0)).rejects.toBeInstanceOf(RevisionConflictError);
    expect(await s1.list({ tenant: 'acme', env: 'prod', team: 'support' })).toContain('cas1');
    await c1.drain();
    await c2.drain();
  });
});

describe('NATS: deployment models', () => {
  it('hybrid: a dedicated instance for bigcorp, a shared one for everyone else', async () => {
    const dedicated = await natsHost({ tenants: ['bigcorp'] });
    const shared = await natsHost({ excludeTenants: ['bigcorp'] });
    expect([...dedicated.host.runtimes.keys()]).toEqual(['bigcorp']);
    expect([...shared.host.runtimes.keys()]).toEqual(['acme']);
    const client = await natsClient(nats.url);
    for (let i = 0; i < 6; i++) {
      expect((await converse(client, BIGCORP_WEBCHAT, { user: `h${i}`, text: 'hi' })).ok).toBe(true);
      expect((await converse(client, ACME_SLACK, { user: `h${i}`, text: 'hi' })).ok).toBe(true);
    }
    await Promise.all([dedicated.host.bus.drain(), shared.host.bus.drain()]);
    expect(turnsIn(dedicated, 'bigcorp')).toBe(6);
    expect(turnsIn(dedicated, 'acme')).toBe(0);
    expect(turnsIn(shared, 'acme')).toBe(6);
    expect(turnsIn(shared, 'bigcorp')).toBe(0);
    await client.close();
  });

  it('a message for a tenant no instance serves waits in the stream, never reaching other flows', async () => {
    const onlyAcme = await natsHost({ tenants: ['acme'] });
    const client = await natsClient(nats.url);
    const id = newMessageId();
    await client.publishDurable(ingressSubject(BIGCORP_WEBCHAT), encodeJson({ id, user: 'late', text: 'hi' }), id);
    await new Promise((r) => setTimeout(r, 500));
    expect(turnsIn(onlyAcme, 'bigcorp')).toBe(0);
    // A bigcorp instance that starts later picks it up.
    const replies = new Promise<string>((resolve) => {
      client.subscribe('greentic.messaging.egress.prod.bigcorp.helpdesk.webchat', (m) => {
        const e = JSON.parse(new TextDecoder().decode(m.data)) as { kind: string; in_reply_to: string; text?: string };
        if (e.kind === 'reply' && e.in_reply_to === id) resolve(e.text!);
      });
    });
    await natsHost({ tenants: ['bigcorp'] });
    expect(await replies).toBe("BigCorp Helpdesk here. What's your issue?");
    await client.close();
  });
});

describe('NATS: faults', () => {
  it('nats-server restarts mid-stream: nothing lost, nothing answered twice', async () => {
    const h = await natsHost({ ackWaitMs: 2000 });
    const client = await natsClient(nats.url);
    const ids = Array.from({ length: 30 }, () => newMessageId());
    // A core subscriber can miss an answer published during the outage, so each wait is bounded
    // well inside the test's own timeout; the egress stream below is the record that counts.
    const answers = ids.map((id, i) => converse(client, i % 2 ? ACME_SLACK : BIGCORP_WEBCHAT, { id, user: `r${i}`, text: 'hello' }, 20_000));
    await new Promise((r) => setTimeout(r, 150));
    await nats.restart();
    const results = await Promise.allSettled(answers);
    // Answers in flight during the outage may be missed by a core subscriber; the stream has them all, once.
    const counts = answersById(await egressMessages(client.nc));
    await h.host.bus.drain();
    for (const id of ids) expect(counts.get(id), id).toBe(1);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value.ok).length).toBeGreaterThan(0);
    expect(turnsIn(h)).toBeGreaterThanOrEqual(30);
    await client.close();
  }, 90_000);
});
