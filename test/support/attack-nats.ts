import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { converse, type ConversationReply } from '../../dist/messaging/conversation.js';
import { connectNats, type NatsOptions } from '../../dist/messaging/nats/connection.js';
import { NatsBus } from '../../dist/messaging/nats/nats-bus.js';
import { NatsSecretStore } from '../../dist/stores/nats-secret-store.js';
import { EXAMPLES } from './bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, startHost, type TestHost } from './host.js';
import { LeakWatch, newMarker } from './leak-watch.js';
import { startNats, type NatsServer } from './nats.js';
import { subjectTokens, victimNames } from './nats-attack.js';

/** The example's accounts and users (examples/deployments/nats/nats-server.conf), used as they ship. */
const CONFIG = readFileSync(join(EXAMPLES, 'deployments', 'nats', 'nats-server.conf'), 'utf8');
/** What one compromised bigcorp instance and provider hold, bigcorp's own admin, and the deployment's host user; with what each may receive. */
const ATTACKERS = [
  { user: 'host_bigcorp', password: 'host-bigcorp-demo', listen: ['_INBOX_host_bigcorp.>'] },
  { user: 'provider_bigcorp', password: 'provider-bigcorp-demo', listen: ['greentic.messaging.egress.*.bigcorp.>', '_INBOX_provider_bigcorp.>'] },
  { user: 'admin_bigcorp', password: 'admin-bigcorp-demo', listen: ['>'] },
  { user: 'host', password: 'host-demo', listen: ['_INBOX_host.>'] },
] as const;

export interface NatsOp {
  by: number;
  subject: string;
  header?: [string, string] | null;
  reply?: string | null;
  body: string;
}

/** A NATS deployment with acme and bigcorp each in its own account, an instance serving each, markers planted in both. */
export interface NatsAttackWorld {
  readonly nats: NatsServer;
  readonly watch: LeakWatch;
  readonly attackers: NatsConnection[];
  readonly vaultSession: string;
  /** One acme turn from acme's provider, as its calm user. */
  acmeTurn(text: string): Promise<ConversationReply>;
  /** acme's stored data (sessions and secrets buckets), except what its calm user changes. */
  acmeVault(): Promise<string>;
  /** Messages the attackers received, all scanned. */
  received(): number;
  opArb(): fc.Arbitrary<NatsOp>;
  publish(ops: readonly NatsOp[]): Promise<number>;
  close(): Promise<void>;
}

export async function startNatsAttackWorld(): Promise<NatsAttackWorld> {
  const nats = await startNats(CONFIG);
  const who = (user: string, password: string): NatsOptions => ({ url: nats.url, user, password, inboxPrefix: `_INBOX_${user}`, name: user, connectWaitMs: 1 });
  const watch = new LeakWatch();
  const conns: NatsConnection[] = [];
  const as = async (user: string, password: string) => {
    const nc = await connectNats(who(user, password), watch.logger);
    conns.push(nc);
    return nc;
  };
  const instance = (tenant: string): Promise<TestHost> =>
    startHost({
      tenants: [tenant],
      workers: 1,
      spare: false,
      logger: watch.logger,
      nats: {
        ...who('host', 'host-demo'),
        tenants: new Map([[tenant, { user: `host_${tenant}`, password: `host-${tenant}-demo`, inboxPrefix: `_INBOX_host_${tenant}` }]]),
      },
    });
  const hosts = [await instance('acme'), await instance('bigcorp')];
  const acmeBus = await NatsBus.open(await as('provider_acme', 'provider-acme-demo'), watch.logger, { setup: false });
  const bigcorpBus = await NatsBus.open(await as('provider_bigcorp', 'provider-bigcorp-demo'), watch.logger, { setup: false });
  // Each tenant's markers: a conversation's text (its state and transcript) and a secret.
  const plant = async (tenant: 'acme' | 'bigcorp', bus: NatsBus, address: typeof ACME_SLACK) => {
    const m = { text: newMarker(tenant, 'T'), secret: newMarker(tenant, 'S') };
    watch.own(tenant, Object.values(m));
    await converse(bus, address, { user: `vault-${tenant}`, text: 'hello' }, 20_000);
    const r = await converse(bus, address, { user: `vault-${tenant}`, text: m.text }, 20_000);
    if (!r.ok) throw new Error(`planting ${tenant}: ${r.code}: ${r.message}`);
    const admin = await as(`admin_${tenant}`, `admin-${tenant}-demo`);
    await (await NatsSecretStore.open(admin, Buffer.from(process.env.GREENTIC_MASTER_KEY!, 'hex'))).set({ kind: 'tenant', tenant }, 'crm_token', m.secret);
    return { session: r.session, admin };
  };
  const acme = await plant('acme', acmeBus, ACME_SLACK);
  await plant('bigcorp', bigcorpBus, BIGCORP_WEBCHAT);
  const calmSession = (await converse(acmeBus, ACME_SLACK, { user: 'calm', text: 'hello' }, 20_000)).session;

  let received = 0;
  const attackers: NatsConnection[] = [];
  for (const a of ATTACKERS) {
    const nc = await as(a.user, a.password);
    for (const s of a.listen) {
      nc.subscribe(s, {
        callback: (_e, m) => {
          if (!m) return;
          received++;
          watch.check('bigcorp', `${m.subject} ${m.reply ?? ''} ${m.headers ? JSON.stringify([...m.headers]) : ''} ${m.string()}`, `nats message to ${a.user}`);
        },
      });
    }
    attackers.push(nc);
  }
  const v = victimNames('acme');
  const token = fc.constantFrom(
    ...subjectTokens('acme', [
      acme.session,
      calmSession,
      'ingress-bigcorp',
      'KV_greentic_sessions_bigcorp',
      'GREENTIC_INGRESS_bigcorp',
      'greentic_secrets_global',
    ]),
  );
  const inboxes = ATTACKERS.map((a) => `_INBOX_${a.user}.x`);
  const op: fc.Arbitrary<NatsOp> = fc.record({
    by: fc.integer({ min: 0, max: ATTACKERS.length - 1 }),
    subject: fc.oneof(
      { weight: 8, arbitrary: fc.array(token, { minLength: 1, maxLength: 9 }).map((t) => t.join('.')) },
      { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
    ),
    header: fc.option(
      fc.constantFrom<[string, string]>(
        ['Nats-Rollup', 'all'],
        ['Nats-Rollup', 'sub'],
        ['Nats-Msg-Id', 'victim-id'],
        ['KV-Operation', 'PURGE'],
        ['KV-Operation', 'DEL'],
        ['Nats-Expected-Last-Sequence', '0'],
      ),
    ),
    reply: fc.option(
      fc.constantFrom(
        v.egress,
        v.ingress,
        `$KV.greentic_sessions_acme.prod.support.${acme.session}`,
        '_INBOX_host_acme.x',
        '_INBOX_provider_acme.x',
        ...inboxes,
      ),
    ),
    body: fc.oneof(
      fc.constantFrom(
        '',
        '{"seq":1}',
        '{"subjects_filter":">"}',
        '{"last_by_subj":"$KV.greentic_sessions_acme.>"}',
        '{"batch":10}',
        '{"id":"m1","user":"x","text":"hi"}',
      ),
      fc.string({ maxLength: 40 }),
    ),
  });
  const acmeVault = async () => {
    const jsm = await jetstreamManager(acme.admin);
    const out: Record<string, string> = {};
    for (const s of ['KV_greentic_sessions_acme', 'KV_greentic_secrets_acme']) {
      const info = await jsm.streams.info(s, { subjects_filter: '>' });
      for (const subject of Object.keys(info.state.subjects ?? {}).sort()) {
        if (subject.endsWith(`.${calmSession}`)) continue;
        const m = await jsm.streams.getMessage(s, { last_by_subj: subject });
        out[subject] = m ? `${m.seq} ${Buffer.from(m.data).toString('base64')}` : 'gone';
      }
    }
    return JSON.stringify(out);
  };
  return {
    nats,
    watch,
    attackers,
    vaultSession: acme.session,
    acmeTurn: (text) => converse(acmeBus, ACME_SLACK, { user: 'calm', text }, 20_000),
    acmeVault,
    received: () => received,
    opArb: () => op,
    publish: async (ops) => {
      let sent = 0;
      for (const o of ops) {
        const h = o.header ? natsHeaders() : undefined;
        if (o.header) h!.set(o.header[0], o.header[1]);
        try {
          attackers[o.by]!.publish(o.subject, o.body, { headers: h, reply: o.reply ?? undefined });
          sent++;
        } catch {
          // A subject the client itself refuses never left.
        }
      }
      await Promise.all(attackers.map((c) => c.flush()));
      return sent;
    },
    close: async () => {
      for (const h of hosts) await h.close();
      for (const nc of conns) await nc.close().catch(() => undefined);
      await nats.dispose();
    },
  };
}
