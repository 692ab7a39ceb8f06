import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from 'cbor-x';
import { jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { converse } from '../../dist/messaging/conversation.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { connectNats } from '../../dist/messaging/nats/connection.js';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { SecretCipher } from '../../dist/stores/secret-cipher.js';
import { NatsSecretStore } from '../../dist/stores/nats-secret-store.js';
import { sessionKey } from '../../dist/stores/keys.js';
import { defaultSessionId } from '../../dist/flow/executor.js';
import { CLI } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, startHost } from '../support/host.js';
import { natsClient } from '../support/nats-client.js';
import { memoryLogger } from '../support/logs.js';
import { startNats, type NatsServer } from '../support/nats.js';

const KEY = '9a'.repeat(32);
process.env.GREENTIC_MASTER_KEY = KEY;
let nats: NatsServer;
let nc: NatsConnection;
const cli = (...args: string[]) => promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, GREENTIC_LOG_LEVEL: 'fatal' } });

/** What an earlier version left on the server: the shared streams and buckets, with data of two tenants. */
async function legacyDeployment(): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'GREENTIC_INGRESS', subjects: ['greentic.messaging.ingress.>'], retention: RetentionPolicy.Workqueue });
  await jsm.streams.add({ name: 'GREENTIC_EGRESS', subjects: ['greentic.messaging.egress.>'] });
  const sessions = await new Kvm(nc).create('greentic_sessions', { history: 1 });
  const secrets = await new Kvm(nc).create('greentic_secrets', { history: 1 });
  const k = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, defaultSessionId('slack', 'old-user'));
  const record = {
    v: 1,
    ...k,
    channel: 'slack',
    user: 'old-user',
    cursor: { flow: 'acme_support_flow', node: 'ask_issue', waiting: true },
    state: {},
    created_at: 1,
    updated_at: 1,
    turns: 1,
    recent_messages: [],
  };
  await sessions.put(`acme.prod.support.${k.session}`, encode(record));
  const cipher = new SecretCipher(Buffer.from(KEY, 'hex'));
  await secrets.put('acme.crm_token', cipher.seal('acme/crm_token', 'old-crm'));
  await secrets.put('acme.teams.support.hook', cipher.seal('acme/teams/support/hook', 'old-hook'));
  await secrets.put('global.signing', cipher.seal('global/signing', 'old-global'));
  await secrets.put('BAD.x', cipher.seal('x', 'x'));
  // A message for bigcorp waits: no instance ran while the deployment was upgraded.
  await jetstream(nc).publish(ingressSubject(BIGCORP_WEBCHAT), encodeJson({ id: 'mold1', user: 'old-b', text: 'hi' }), { msgID: 'mold1' });
}

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ url: nats.url }, memoryLogger('fatal').logger);
  await legacyDeployment();
});
afterAll(async () => {
  await nc.close();
  await nats.dispose();
});

describe('migrating from the shared streams of earlier versions', () => {
  it('a new instance refuses to start beside them with a line that says what to run', async () => {
    await expect(startHost({ nats: { url: nats.url }, tenants: ['acme'], workers: 1, spare: false })).rejects.toThrow(
      'stream GREENTIC_INGRESS_acme cannot be created: its subjects overlap a stream already on the server (the shared GREENTIC_INGRESS of an earlier version?); run `greentic-host nats migrate --nats URL` once (see the README, "Migrating from shared streams")',
    );
  }, 60_000);

  it('nats migrate moves sessions, secrets and waiting ingress to each tenant, and the deployment carries on', async () => {
    const dry = await cli('nats', 'migrate', '--nats', nats.url, '--dry-run');
    expect(dry.stdout).toBe('found 2 tenants (acme, bigcorp): 1 session, 4 secrets, 1 waiting ingress message\n');
    expect((await (await jetstreamManager(nc)).streams.info('GREENTIC_INGRESS')).state.messages).toBe(1);
    const run = await cli('nats', 'migrate', '--nats', nats.url);
    expect(run.stdout.split('\n')).toEqual([
      'found 2 tenants (acme, bigcorp): 1 session, 4 secrets, 1 waiting ingress message',
      'left out (no valid tenant id): secret "BAD.x"',
      'moved 1 session, 3 secrets, 1 ingress message; removed GREENTIC_INGRESS, GREENTIC_EGRESS, GREENTIC_MIGRATING, KV_greentic_sessions, KV_greentic_secrets',
      '',
    ]);
    const store = await NatsSecretStore.open(nc, Buffer.from(KEY, 'hex'));
    expect(await store.get({ kind: 'tenant', tenant: 'acme' }, 'crm_token')).toBe('old-crm');
    expect(await store.get({ kind: 'team', tenant: 'acme', team: 'support' }, 'hook')).toBe('old-hook');
    expect(await store.get({ kind: 'global' }, 'signing')).toBe('old-global');
    const client = await natsClient(nats.url);
    const bigcorpAnswer = new Promise<string>((resolve) =>
      client.subscribe('greentic.messaging.egress.prod.bigcorp.helpdesk.webchat', (m) => {
        const e = JSON.parse(Buffer.from(m.data).toString()) as { kind: string; in_reply_to: string; text?: string };
        if (e.kind === 'reply' && e.in_reply_to === 'mold1') resolve(e.text!);
      }),
    );
    const h = await startHost({ nats: { url: nats.url }, workers: 1, spare: false });
    try {
      expect(await bigcorpAnswer).toBe("BigCorp Helpdesk here. What's your issue?");
      // The old conversation goes on where it waited (at ask_issue).
      // A retryable failure (a guest past its deadline on a busy machine) leaves the session as it was: send again, as a provider would.
      let r = await converse(client, ACME_SLACK, { user: 'old-user', text: 'I was charged twice' }, 20_000);
      for (let i = 0; i < 3 && !r.ok && r.retryable; i++) r = await converse(client, ACME_SLACK, { user: 'old-user', text: 'I was charged twice' }, 20_000);
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, replies: ['Sorry about the billing trouble. What is the email on your account?'] });
      const again = await cli('nats', 'migrate', '--nats', nats.url);
      expect(again.stdout).toBe(
        'found 0 tenants (none): 0 sessions, 0 secrets, 0 waiting ingress messages\nmoved 0 sessions, 0 secrets, 0 ingress messages; removed nothing\n',
      );
    } finally {
      await client.close();
      await h.close();
    }
  }, 90_000);
});
