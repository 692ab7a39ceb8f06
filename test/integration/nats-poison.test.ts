import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { converse } from '../../dist/messaging/conversation.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { connectNats } from '../../dist/messaging/nats/connection.js';
import { NatsBus } from '../../dist/messaging/nats/nats-bus.js';
import { NatsLinks } from '../../dist/messaging/nats/links.js';
import { ingressConsumerName, ingressStream } from '../../dist/messaging/nats/resources.js';
import { NatsDeadLetterStore } from '../../dist/stores/nats-dead-letters.js';
import { sessionKey } from '../../dist/stores/keys.js';
import { defaultSessionId } from '../../dist/flow/executor.js';
import type { DeadLetter } from '../../dist/stores/dead-letters.js';
import { ACME_SLACK, startHost, type TestHost } from '../support/host.js';
import { egressMessages, natsClient } from '../support/nats-client.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { memoryLogger } from '../support/logs.js';

let nats: NatsServer;
const hosts: TestHost[] = [];
process.env.GREENTIC_MASTER_KEY = 'ab'.repeat(32);
beforeAll(async () => {
  nats = await startNats();
});
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
});
afterAll(async () => {
  await nats.dispose();
});

async function natsHost(opts: Record<string, unknown> = {}): Promise<TestHost> {
  const h = await startHost({ nats: { url: nats.url }, tenants: ['acme'], workers: 1, spare: false, ...opts });
  hosts.push(h);
  return h;
}
type Letters = { list(t: string, o?: { after?: string }): Promise<DeadLetter[]> };
/** The newest acme letter's id: what a test's letters come after (letters of earlier tests stay in the stream). */
async function mark(store: Letters): Promise<string | undefined> {
  return (await store.list('acme', { after: undefined })).at(-1)?.id;
}
/** The acme letters after `after`, once `n` are there (polling; each poll is a real JetStream read). */
async function lettersOf(store: Letters, n: number, after: string | undefined, timeoutMs = 20_000): Promise<DeadLetter[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const l = await store.list('acme', { after });
    if (l.length >= n || Date.now() > end) return l;
    await new Promise((r) => setTimeout(r, 100));
  }
}
const text = (d: Uint8Array) => Buffer.from(d).toString('utf8');
/** The consumer's view: nothing left waiting or in flight means nothing is redelivered any more. */
async function consumerIdle(nc: import('@nats-io/transport-node').NatsConnection): Promise<{ pending: number; ackPending: number; redelivered: number }> {
  const ci = await (await jetstreamManager(nc)).consumers.info(ingressStream('acme'), ingressConsumerName('acme'));
  return { pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered };
}

describe('NATS poison messages end in the tenant’s dead letters, with their reason', () => {
  it('malformed messages (CR/LF in the id, not JSON, not UTF-8, wrong shape) are answered once and kept, never redelivered', async () => {
    const h = await natsHost();
    const client = await natsClient(nats.url);
    const js = jetstream(client.nc);
    const poison = [
      '{"id":"m1\\r\\nNats-Rollup: all","user":"u","text":"hi"}',
      'not json at all',
      '{"id":"m2","user":"u","text":"hi","extra":1}',
      '{"id":"M-UPPER","user":"u","text":"hi"}',
    ];
    const before = await mark(h.host.deadLetters);
    for (const p of poison) await js.publish(ingressSubject(ACME_SLACK), p);
    await js.publish(ingressSubject(ACME_SLACK), new Uint8Array([0xff, 0xfe, 0x00]));
    const letters = await lettersOf(h.host.deadLetters, 5, before);
    expect(letters.map((l) => l.reason)).toEqual(Array(5).fill('invalid-message'));
    expect(letters.map((l) => l.detail)).toEqual([
      'ingress message rejected: id: invalid message id "m1\\r\\nNats-Rollup: all": it has upper-case letters; ids are lower case (^[a-z0-9][a-z0-9_-]{0,62}$)',
      'ingress message rejected: not JSON: Unexpected token \'o\', "not json at all" is not valid JSON',
      'ingress message rejected: body: Unrecognized key: "extra"',
      'ingress message rejected: id: invalid message id "M-UPPER": it has upper-case letters; ids are lower case (^[a-z0-9][a-z0-9_-]{0,62}$)',
      'ingress message rejected: not UTF-8 text',
    ]);
    expect(letters.map((l) => text(l.data)).slice(0, 4)).toEqual(poison);
    expect(letters.every((l) => l.tenant === 'acme' && l.source === 'ingress' && l.subject === ingressSubject(ACME_SLACK) && l.deliveries === 1)).toBe(true);
    // Each was answered with an error under a header-safe id, exactly once.
    const errors = (await egressMessages(client.nc, ['acme'])).filter((m) => m.kind === 'error');
    expect(errors).toHaveLength(5);
    expect(errors.map((e) => e.in_reply_to)).toContain('m2');
    expect(errors.every((e) => /^[a-z0-9][a-z0-9_-]{0,62}$/.test(e.in_reply_to))).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await consumerIdle(client.nc)).toEqual({ pending: 0, ackPending: 0, redelivered: 0 });
    await client.close();
  });

  it('a message for a damaged KV session is kept as a dead letter, the session can be deleted, and the replayed letter is then answered', async () => {
    const h = await natsHost();
    const client = await natsClient(nats.url);
    const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'broken'));
    const kv = await new Kvm(client.nc).open('greentic_sessions_acme');
    await kv.put(`prod.support.${key.session}`, new Uint8Array([0xff, 0x00, 0x13]));
    const before = await mark(h.host.deadLetters);
    const r = await converse(client, ACME_SLACK, { user: 'broken', text: 'hello' }, 20_000);
    expect(r).toMatchObject({ ok: false, code: 'session-unreadable', message: 'the session cannot be read; an operator must delete it', retryable: false });
    const [letter] = await lettersOf(h.host.deadLetters, 1, before);
    expect(letter).toMatchObject({ reason: 'corrupt-session', deliveries: 1 });
    expect(letter!.detail).toMatch(/^session KV greentic_sessions_acme\/prod\.support\.s[0-9a-f]{40} is not valid CBOR: /);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await consumerIdle(client.nc)).redelivered).toBe(0);
    // The operator clears the session (the API's DELETE does this) and replays the letter.
    expect(await h.host.sessions.delete(key)).toBe(true);
    expect(await h.host.sessions.get(key)).toBeNull();
    const answered = new Promise<string>((resolve) =>
      client.subscribe('greentic.messaging.egress.prod.acme.support.slack', (m) => {
        const e = JSON.parse(text(m.data)) as { kind: string; user: string; text?: string };
        if (e.kind === 'reply' && e.user === 'broken') resolve(e.text!);
      }),
    );
    expect(await h.host.deadLetters.replay('acme', letter!.id, client)).toBe(true);
    expect(await answered).toBe('Welcome to ACME Support! How can I help?');
    expect(await h.host.deadLetters.get('acme', letter!.id)).toBeNull();
    await client.close();
  });

  it('a message that fails on every delivery is retried with backoff, then kept with its last error', async () => {
    const logger = memoryLogger('warn');
    const links = await NatsLinks.connect({ url: nats.url }, logger.logger);
    const bus = await NatsBus.open(links, logger.logger, { ackWaitMs: 1000, maxDeliver: 3 });
    await bus.setUp(['acme']);
    const before = await mark(bus.deadLetters);
    const seen: number[] = [];
    const sub = await bus.consumeIngress(['acme'], async (m) => {
      seen.push(m.deliveries ?? 0);
      throw new Error('store timed out');
    });
    await jetstream(links.main.nc).publish(ingressSubject(ACME_SLACK), encodeJson({ id: 'mfails', user: 'u', text: 'hi' }));
    const [letter] = await lettersOf(bus.deadLetters, 1, before);
    expect(seen).toEqual([1, 2, 3]);
    expect(letter).toMatchObject({ reason: 'max-deliveries', deliveries: 3, detail: 'failed on each of 3 deliveries; the last: store timed out' });
    const retries = logger.lines.filter((l) => l.event === 'ingress-retry');
    expect(retries.map((l) => [l.deliveries, l.retry_in_ms])).toEqual([
      [1, 1000],
      [2, 2000],
    ]);
    sub.unsubscribe();
    await bus.close();
  }, 30_000);

  it('a message every instance dies on is kept once the deliveries run out, without running it again', async () => {
    const policy = { ackWaitMs: 300, maxDeliver: 2 };
    const seen: number[] = [];
    let before: string | undefined;
    const start = async (handler: (d: number) => Promise<void>) => {
      const logger = memoryLogger('warn').logger;
      const nc = await connectNats({ url: nats.url }, logger);
      const bus = await NatsBus.open(nc, logger, policy);
      await bus.setUp(['acme']);
      await bus.consumeIngress(['acme'], (m) => (seen.push(m.deliveries ?? 0), handler(m.deliveries ?? 0)));
      return { nc, bus };
    };
    // Two instances take it and die mid-turn (their connection drops without an ack).
    for (let i = 0; i < 2; i++) {
      let took!: () => void;
      const taken = new Promise<void>((r) => (took = r));
      const inst = await start(() => (took(), new Promise<void>(() => {})));
      if (i === 0) before = await mark(inst.bus.deadLetters);
      if (i === 0) await jetstream(inst.nc).publish(ingressSubject(ACME_SLACK), encodeJson({ id: 'mkiller', user: 'u', text: 'hi' }));
      await taken;
      await inst.nc.close();
    }
    const survivor = await start(async () => {
      throw new Error('the survivor must not run it');
    });
    const letters = await lettersOf(survivor.bus.deadLetters, 1, before);
    expect(seen).toEqual([1, 2]);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      reason: 'max-deliveries',
      deliveries: 3,
      detail: 'delivered 3 times and never finished (each instance that took it stopped or timed out)',
    });
    await survivor.bus.close();
  }, 30_000);

  it("one tenant's letter ids never reach another tenant's letters", async () => {
    const links = await NatsLinks.connect({ url: nats.url }, memoryLogger('fatal').logger);
    const bus = await NatsBus.open(links, memoryLogger('fatal').logger);
    await bus.setUp(['acme', 'bigcorp']);
    const store = new NatsDeadLetterStore(links);
    const id = await store.record({
      tenant: 'acme',
      source: 'ingress',
      subject: ingressSubject(ACME_SLACK),
      data: new Uint8Array([1]),
      reason: 'invalid-message',
      detail: 'x',
      deliveries: 1,
    });
    expect((await store.get('acme', id))?.tenant).toBe('acme');
    expect(await store.get('bigcorp', id)).toBeNull();
    expect(await store.delete('bigcorp', id)).toBe(false);
    expect((await store.list('bigcorp')).map((l) => l.id)).not.toContain(id);
    await expect(
      store.record({
        tenant: 'bigcorp',
        source: 'ingress',
        subject: ingressSubject(ACME_SLACK),
        data: new Uint8Array(),
        reason: 'invalid-message',
        detail: '',
        deliveries: 1,
      }),
    ).rejects.toThrow('dead letter subject "greentic.messaging.ingress.prod.acme.support.slack" is not a channel subject of tenant bigcorp');
    for (const bad of ['', '0', '-1', '1e3', 'constructor', '__proto__', '../1', '9'.repeat(20)]) expect(await store.get('acme', bad)).toBeNull();
    await bus.close();
  });
});
