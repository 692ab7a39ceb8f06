import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { converse, newMessageId } from '../../dist/messaging/conversation.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { connectNats, type NatsOptions } from '../../dist/messaging/nats/connection.js';
import { NatsBus } from '../../dist/messaging/nats/nats-bus.js';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { EXAMPLES } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, startHost, type TestHost } from '../support/host.js';
import { memoryLogger } from '../support/logs.js';
import { startNats, type NatsServer } from '../support/nats.js';

// The example's nats-server users (examples/deployments/nats/nats-server.conf), used for real.
const CONFIG = readFileSync(join(EXAMPLES, 'deployments', 'nats', 'nats-server.conf'), 'utf8');
let nats: NatsServer;
let bigcorpHost: TestHost;
process.env.GREENTIC_MASTER_KEY = 'cd'.repeat(32);

const user = (name: string, password: string): NatsOptions => ({ url: nats.url, user: name, password, inboxPrefix: `_INBOX_${name}`, name });
/** Connect as `who`, collecting the permission errors the server reports. */
async function as(who: NatsOptions): Promise<{ nc: NatsConnection; errors: string[] }> {
  const nc = await connectNats(who, memoryLogger('error').logger);
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: unknown }).error));
  })();
  return { nc, errors };
}
const settle = () => new Promise((r) => setTimeout(r, 300));

beforeAll(async () => {
  nats = await startNats(CONFIG);
  // The operator sets up streams, buckets and consumers once, as admin.
  const admin = await startHost({ nats: user('admin', 'admin-demo'), workers: 1, spare: false });
  await admin.close();
  // The dedicated bigcorp instance runs with its confined user.
  bigcorpHost = await startHost({ tenants: ['bigcorp'], nats: user('host_bigcorp', 'host-bigcorp-demo'), workers: 1, spare: false });
});
afterAll(async () => {
  await bigcorpHost?.close();
  await nats?.dispose();
});

describe('NATS users confined to their tenant', () => {
  it('the confined bigcorp instance serves bigcorp through its own provider user', async () => {
    const { nc } = await as(user('provider_bigcorp', 'provider-bigcorp-demo'));
    const bus = await NatsBus.open(nc, memoryLogger().logger, { setup: false });
    const r = await converse(bus, BIGCORP_WEBCHAT, { user: 'p1', text: 'hi' }, 10_000);
    expect(r).toMatchObject({ ok: true, replies: ["BigCorp Helpdesk here. What's your issue?"] });
    await bus.close();
  });

  it("acme's provider cannot publish to bigcorp's ingress, nor read bigcorp's egress, even with wildcards", async () => {
    const { nc, errors } = await as(user('provider_acme', 'provider-acme-demo'));
    const id = newMessageId();
    nc.publish(ingressSubject(BIGCORP_WEBCHAT), encodeJson({ id, user: 'intruder', text: 'hi' }));
    const subErrors: string[] = [];
    for (const pattern of ['greentic.messaging.egress.prod.bigcorp.helpdesk.webchat', 'greentic.messaging.egress.>', 'greentic.messaging.>', '>']) {
      nc.subscribe(pattern, { callback: (err) => err && subErrors.push(`${pattern}: ${err.message}`) });
    }
    await nc.flush();
    await settle();
    expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "greentic\.messaging\.ingress\.prod\.bigcorp\.helpdesk\.webchat"/);
    expect(subErrors).toHaveLength(4);
    for (const e of subErrors) expect(e).toMatch(/Permissions Violation for Subscription/);
    await bigcorpHost.host.bus.drain();
    expect(bigcorpHost.logs.lines.some((l) => l.message_id === id)).toBe(false);
    await nc.close();
  });

  it("the bigcorp instance's user cannot read acme's ingress, sessions or replies", async () => {
    const { nc, errors } = await as(user('host_bigcorp', 'host-bigcorp-demo'));
    const subErrors: string[] = [];
    nc.subscribe('greentic.messaging.ingress.prod.acme.support.slack', { callback: (err) => err && subErrors.push(err.message) });
    nc.subscribe('_INBOX.>', { callback: (err) => err && subErrors.push(err.message) });
    nc.publish(ingressSubject(ACME_SLACK), encodeJson({ id: newMessageId(), user: 'x', text: 'hi' }));
    const kv = await new Kvm(nc).open('greentic_sessions');
    await expect(kv.get('acme.prod.support.s1')).rejects.toThrow();
    await expect(kv.put('acme.prod.support.s1', new Uint8Array([1]))).rejects.toThrow();
    await settle();
    expect(subErrors).toHaveLength(2);
    expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "greentic\.messaging\.ingress\.prod\.acme/);
    await nc.close();
  });
});
