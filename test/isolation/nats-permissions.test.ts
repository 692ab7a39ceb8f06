import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { converse, newMessageId } from '../../dist/messaging/conversation.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { connectNats, type NatsOptions } from '../../dist/messaging/nats/connection.js';
import { NatsBus } from '../../dist/messaging/nats/nats-bus.js';
import { NatsSecretStore } from '../../dist/stores/nats-secret-store.js';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { EXAMPLES } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, startHost, type TestHost } from '../support/host.js';
import { memoryLogger } from '../support/logs.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { attempt, attemptsAgainst, snapshot, subjectTokens, victimNames, type Outcome } from '../support/nats-attack.js';

// The example's accounts and users (examples/deployments/nats/nats-server.conf), used for real.
const CONFIG = readFileSync(join(EXAMPLES, 'deployments', 'nats', 'nats-server.conf'), 'utf8');
let nats: NatsServer;
process.env.GREENTIC_MASTER_KEY = 'cd'.repeat(32);
const opened: NatsConnection[] = [];

const who = (user: string, password: string): NatsOptions => ({ url: nats.url, user, password, inboxPrefix: `_INBOX_${user}`, name: user, connectWaitMs: 1 });
async function as(user: string, password: string): Promise<NatsConnection> {
  const nc = await connectNats(who(user, password), memoryLogger('fatal').logger);
  opened.push(nc);
  return nc;
}
/** A host instance serving `tenant` as the example's instance files do: main user host, the tenant's own account. */
function instance(tenant: string): Promise<TestHost> {
  return startHost({
    tenants: [tenant],
    workers: 1,
    spare: false,
    nats: {
      ...who('host', 'host-demo'),
      tenants: new Map([[tenant, { user: `host_${tenant}`, password: `host-${tenant}-demo`, inboxPrefix: `_INBOX_host_${tenant}` }]]),
    },
  });
}
const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

let acmeAdmin: NatsConnection;
let acmeProvider: NatsConnection;
let bigcorpHost: TestHost;
/** What acme's provider saw on acme's egress while the attacks ran (must stay empty). */
const acmeEgressSeen: string[] = [];
let victimSession = '';

beforeAll(async () => {
  nats = await startNats(CONFIG);
  // Acme's instance creates acme's resources in acme's account; a conversation, a secret and a dead letter go in.
  const acmeHost = await instance('acme');
  bigcorpHost = await instance('bigcorp');
  acmeProvider = await as('provider_acme', 'provider-acme-demo');
  const providerBus = await NatsBus.open(acmeProvider, memoryLogger('fatal').logger, { setup: false });
  const r = await converse(providerBus, ACME_SLACK, { user: 'victim-user', text: 'hello' }, 20_000);
  expect(r).toMatchObject({ ok: true });
  victimSession = (r as { session: string }).session;
  acmeAdmin = await as('admin_acme', 'admin-acme-demo');
  await (
    await NatsSecretStore.open(acmeAdmin, Buffer.from(process.env.GREENTIC_MASTER_KEY!, 'hex'))
  ).set({ kind: 'tenant', tenant: 'acme' }, 'crm_token', 'victim-secret');
  acmeProvider.publish(ingressSubject(ACME_SLACK), 'not json');
  for (let i = 0; i < 50 && (await acmeHost.host.deadLetters.list('acme')).length === 0; i++) await settle(100);
  expect(await acmeHost.host.deadLetters.list('acme')).toHaveLength(1);
  await acmeHost.close();
  // Two messages wait in acme's ingress while nobody serves acme: a thief would take them.
  const js = (await import('@nats-io/jetstream')).jetstream(acmeProvider);
  await js.publish(ingressSubject(ACME_SLACK), encodeJson({ id: 'mwaiting1', user: 'victim-user', text: 'I was charged twice' }), { msgID: 'victim-id' });
  await js.publish(ingressSubject(ACME_SLACK), encodeJson({ id: 'mwaiting2', user: 'victim-user2', text: 'hello' }), { msgID: 'mwaiting2' });
  acmeProvider.subscribe('greentic.messaging.egress.*.acme.>', { callback: (_e, m) => m && acmeEgressSeen.push(m.string()) });
  await acmeProvider.flush();
}, 60_000);
afterAll(async () => {
  await bigcorpHost?.close();
  for (const nc of opened) await nc.close().catch(() => undefined);
  await nats?.dispose();
});

/** The confined users one compromised bigcorp instance or provider holds, and bigcorp's own admin (unconfined in its account). */
const ATTACKERS = [
  ['host_bigcorp', 'host-bigcorp-demo'],
  ['provider_bigcorp', 'provider-bigcorp-demo'],
  ['host', 'host-demo'],
  ['admin_bigcorp', 'admin-bigcorp-demo'],
] as const;

describe('NATS: one tenant against another, every JetStream and KV verb', () => {
  it("each attacker's every attempt on acme's streams, consumer and buckets is refused, and acme's data is unchanged", async () => {
    const before = await snapshot(acmeAdmin, 'acme');
    const key = `prod.support.${victimSession}`;
    const all: Array<Outcome & { by: string }> = [];
    for (const [user, password] of ATTACKERS) {
      const nc = await as(user, password);
      const outcomes = await Promise.all(attemptsAgainst('acme', key).map((a) => attempt(nc, a)));
      all.push(...outcomes.map((o) => ({ ...o, by: user })));
    }
    expect(all.length).toBeGreaterThan(4 * 90);
    for (const o of all.filter((x) => x.by !== 'admin_bigcorp')) {
      // Refused by the server's permissions before anything runs.
      expect(o.detail, `${o.by}: ${o.attempt.verb} ${o.attempt.subject}`).toBe(`Permissions Violation for Publish to "${o.attempt.subject}"`);
    }
    // bigcorp's own admin may do anything in bigcorp's account; acme's names there are other (empty) things.
    const answered = all.filter((x) => x.by === 'admin_bigcorp' && x.ok);
    for (const o of answered) {
      expect(o.detail, `${o.attempt.verb}`).not.toMatch(/victim|mwaiting|crm_token|"messages":[1-9]/);
      expect(o.detail).not.toContain(victimSession);
    }
    // What it got instead: nothing of acme exists in bigcorp's account.
    const refusedReasons = new Set(all.filter((x) => x.by === 'admin_bigcorp' && !x.ok).map((x) => x.detail.replace(/'.*'/, "'...'")));
    const expected = [
      'api error: stream not found',
      'api error: consumer not found',
      'api error: no message found',
      'api error: subjects overlap with an existing stream',
      "no responders: '...'",
      'timeout',
    ];
    for (const r of refusedReasons) expect(expected).toContain(r);
    await settle();
    expect(await snapshot(acmeAdmin, 'acme')).toBe(before);
    expect(acmeEgressSeen).toEqual([]);
  }, 60_000);

  it('reply subjects and push consumers of an attacker land in its own account, never in acme’s subjects or streams', async () => {
    const before = await snapshot(acmeAdmin, 'acme');
    const v = victimNames('acme');
    const hostNc = await as('host_bigcorp', 'host-bigcorp-demo');
    // A request the attacker may make, answered on acme's subjects if the server obeyed the reply subject across tenants.
    for (const reply of [v.egress, v.ingress, `$KV.greentic_sessions_acme.${`prod.support.${victimSession}`}`]) {
      hostNc.publish('$JS.API.STREAM.INFO.GREENTIC_EGRESS_bigcorp', undefined, { reply });
      hostNc.publish('$JS.API.DIRECT.GET.KV_greentic_sessions_bigcorp', JSON.stringify({ seq: 1 }), { reply });
    }
    await hostNc.flush();
    // bigcorp's admin makes a push consumer delivering bigcorp's egress to acme's egress subject.
    const admin = await as('admin_bigcorp', 'admin-bigcorp-demo');
    const jsm = await jetstreamManager(admin);
    await jsm.consumers.add('GREENTIC_EGRESS_bigcorp', { durable_name: 'reflector', deliver_subject: v.egress, ack_policy: AckPolicy.None });
    await settle(800);
    expect(acmeEgressSeen).toEqual([]);
    expect(await snapshot(acmeAdmin, 'acme')).toBe(before);
    await jsm.consumers.delete('GREENTIC_EGRESS_bigcorp', 'reflector');
  });

  it('rollup headers are refused on a tenant’s own buckets and streams, so no put can wipe them', async () => {
    const nc = await as('host_bigcorp', 'host-bigcorp-demo');
    const r = await attempt(nc, { verb: 'rollup', subject: '$KV.greentic_sessions_bigcorp.prod.helpdesk.x', body: 'x', headers: { 'Nats-Rollup': 'all' } });
    expect(r.detail).toBe('api error: rollup not permitted');
    const p = await as('provider_bigcorp', 'provider-bigcorp-demo');
    const r2 = await attempt(p, { verb: 'rollup', subject: ingressSubject(BIGCORP_WEBCHAT), body: '{}', headers: { 'Nats-Rollup': 'all' } });
    expect(r2.detail).toBe('api error: rollup not permitted');
  });

  it('a confined instance asks for nothing it may not have: no permission error in its whole log', async () => {
    await bigcorpHost.host.bus.drain();
    expect(bigcorpHost.logs.lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect(bigcorpHost.logs.text()).not.toMatch(/Permissions Violation/i);
  });

  it("a subjects-filtered info on the attacker's own bucket lists only its own keys", async () => {
    const nc = await as('host_bigcorp', 'host-bigcorp-demo');
    const r = await attempt(nc, { verb: 'info', subject: '$JS.API.STREAM.INFO.KV_greentic_sessions_bigcorp', body: { subjects_filter: '>' } });
    expect(r.ok).toBe(true);
    expect(r.detail).not.toContain(victimSession);
  });

  it('random publishes (subjects, headers, reply subjects) by random attackers never change acme', async () => {
    const before = await snapshot(acmeAdmin, 'acme');
    const conns = await Promise.all(ATTACKERS.map(([u, p]) => as(u, p)));
    const v = victimNames('acme');
    const token = fc.constantFrom(...subjectTokens('acme', [victimSession, 'KV_greentic_sessions_bigcorp', 'GREENTIC_INGRESS_bigcorp']));
    const op = fc.record({
      by: fc.integer({ min: 0, max: conns.length - 1 }),
      subject: fc.array(token, { minLength: 1, maxLength: 8 }).map((t) => t.join('.')),
      header: fc.option(
        fc.constantFrom(['Nats-Rollup', 'all'], ['Nats-Rollup', 'sub'], ['Nats-Msg-Id', 'victim-id'], ['KV-Operation', 'PURGE'], ['KV-Operation', 'DEL']),
      ),
      reply: fc.option(fc.constantFrom(v.egress, v.ingress, `$KV.greentic_sessions_acme.prod.support.${victimSession}`, '_INBOX_host_acme.x')),
      body: fc.oneof(fc.constant(''), fc.constant('{"seq":1}'), fc.constant('{"subjects_filter":">"}'), fc.string({ maxLength: 40 })),
    });
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 40 }), async (ops) => {
        for (const o of ops) {
          const h = o.header ? natsHeaders() : undefined;
          if (o.header) h!.set(o.header[0], o.header[1]);
          try {
            conns[o.by]!.publish(o.subject, o.body, { headers: h, reply: o.reply ?? undefined });
            sent++;
          } catch {
            // A subject the client itself refuses never left.
          }
        }
        await Promise.all(conns.map((c) => c.flush()));
      }),
      { numRuns: 10 },
    );
    expect(sent).toBeGreaterThan(100);
    await settle(500);
    expect(await snapshot(acmeAdmin, 'acme')).toBe(before);
    expect(acmeEgressSeen).toEqual([]);
  }, 60_000);

  it('a message id bigcorp reuses suppresses nothing of acme, and acme’s waiting messages were not taken', async () => {
    const bigcorpProvider = await as('provider_bigcorp', 'provider-bigcorp-demo');
    const js = (await import('@nats-io/jetstream')).jetstream(bigcorpProvider);
    // The same Nats-Msg-Id as acme's waiting message, in bigcorp's own stream: its own duplicate window only.
    await js.publish(ingressSubject(BIGCORP_WEBCHAT), encodeJson({ id: newMessageId(), user: 'b1', text: 'hi' }), { msgID: 'victim-id' });
    const acmeHost = await instance('acme');
    try {
      // Each reached acme's instance and was answered (a busy machine may answer with a deadline error; either way it was not taken).
      const answers = () =>
        acmeEgressSeen.map((s) => JSON.parse(s) as { kind: string; in_reply_to: string }).filter((e) => e.kind === 'turn-end' || e.kind === 'error');
      for (let i = 0; i < 300 && answers().length < 2; i++) await settle(100);
      expect(
        answers()
          .map((e) => e.in_reply_to)
          .sort(),
      ).toEqual(['mwaiting1', 'mwaiting2']);
    } finally {
      await acmeHost.close();
    }
  }, 60_000);
});
