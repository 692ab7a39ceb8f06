import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converse, newMessageId, ReplyTimeoutError } from '../../dist/messaging/conversation.js';
import { encodeJson } from '../../dist/messaging/envelope.js';
import { ingressConsumerName, ingressStream, type NatsBus } from '../../dist/messaging/nats/nats-bus.js';
import { ingressSubject } from '../../dist/messaging/subjects.js';
import { copyExamples, writeFiles } from '../support/bundle.js';
import { replies, startHost, type TestHost } from '../support/host.js';
import { answersById, egressMessages, natsClient } from '../support/nats-client.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { nextReload } from '../support/reload.js';

process.env.GREENTIC_MASTER_KEY = 'cd'.repeat(32);
const NEWCO = { tenant: 'newco', env: 'prod', team: 'desk', channel: 'web' };
const FILES = {
  'tenants/newco/tenant.yaml': 'tenant: { id: newco }\nteams:\n  desk:\n    channels:\n      web: { provider: messaging-webchat }\n',
  'tenants/newco/flows/newco_desk_flow.yaml':
    'name: newco_desk_flow\nversion: "1"\nnodes:\n  - id: hi\n    type: reply\n    config: { message: "NewCo over NATS" }\n',
};

let nats: NatsServer;
let client: NatsBus;
const copies = [copyExamples(), copyExamples()];
const hosts: TestHost[] = [];

/** Each instance has its own copy of the bundle, and watches it. */
beforeAll(async () => {
  nats = await startNats();
  for (const c of copies) hosts.push(await startHost({ bundleDir: c.dir, nats: { url: nats.url }, workers: 1, spare: false, watch: { debounceMs: 50 } }));
  client = await natsClient(nats.url);
});
afterAll(async () => {
  await client?.close();
  for (const h of hosts) await h.close();
  await nats?.dispose();
  for (const c of copies) c.cleanup();
});

const outcome = (o: string) => (r: { outcome: string }) => r.outcome === o;
/** Move newco's folder into one instance's bundle copy (as a deployment would), and wait until that instance has it. */
async function deploy(i: number) {
  const added = nextReload(hosts[i]!.host, 'newco', outcome('added'));
  const staging = mkdtempSync(join(copies[i]!.dir, '.staging-'));
  writeFiles(staging, FILES);
  renameSync(join(staging, 'tenants', 'newco'), join(copies[i]!.dir, 'tenants', 'newco'));
  rmSync(staging, { recursive: true });
  return added;
}
async function undeploy(i: number) {
  const removed = nextReload(hosts[i]!.host, 'newco', outcome('removed'));
  rmSync(join(copies[i]!.dir, 'tenants', 'newco'), { recursive: true });
  return removed;
}
const consumerInfo = async () => (await jetstreamManager(client.nc)).consumers.info(ingressStream('newco'), ingressConsumerName('newco'));

describe('NATS: a tenant added and removed while two instances run', () => {
  it('is served by every instance whose bundle gets it, each message answered once; its streams and consumer made at run time', async () => {
    expect((await deploy(0)).outcome).toBe('added');
    expect((await deploy(1)).outcome).toBe('added');
    const ids = Array.from({ length: 20 }, () => newMessageId());
    const answers = await Promise.all(ids.map((id, i) => converse(client, NEWCO, { id, user: `n${i}`, text: 'hi' }, 30_000)));
    for (const a of answers) expect(replies(a)).toEqual(['NewCo over NATS']);
    const counts = answersById(await egressMessages(client.nc, ['newco']));
    for (const id of ids) expect(counts.get(id), id).toBe(1);
    expect((await consumerInfo()).config.durable_name).toBe('ingress-newco');
  });

  it('left by one instance, it is still served by the other, which makes the consumer the first one retired again', async () => {
    expect((await undeploy(0)).outcome).toBe('removed');
    expect(hosts[0]!.host.serves('newco')).toBe(false);
    expect(hosts[1]!.host.serves('newco')).toBe(true);
    expect(replies(await converse(client, NEWCO, { user: 'after-a', text: 'hi' }, 30_000))).toEqual(['NewCo over NATS']);
    expect(hosts[1]!.logs.lines).toContainEqual(expect.objectContaining({ event: 'consumer-recreated', tenant_id: 'newco' }));
    expect((await consumerInfo()).config.durable_name).toBe('ingress-newco');
  });

  it('left by every instance, its consumer is gone; what arrives waits in its stream and is answered once it is back', async () => {
    expect((await undeploy(1)).outcome).toBe('removed');
    await expect(consumerInfo()).rejects.toThrowError(/consumer not found/);
    await expect(converse(client, NEWCO, { user: 'while-gone', text: 'hi' }, 1500)).rejects.toThrowError(ReplyTimeoutError);
    const waiting = newMessageId();
    await client.publishDurable(ingressSubject(NEWCO), encodeJson({ id: waiting, user: 'waiting', text: 'hi' }), waiting);
    const stream = await (await jetstreamManager(client.nc)).streams.info(ingressStream('newco'));
    expect(stream.state.messages).toBeGreaterThanOrEqual(2);
    // Both other tenants were served throughout.
    expect(
      replies(await converse(client, { tenant: 'bigcorp', env: 'prod', team: 'helpdesk', channel: 'webchat' }, { user: 'b', text: 'hi' }, 30_000)),
    ).toEqual(["BigCorp Helpdesk here. What's your issue?"]);

    expect((await deploy(1)).outcome).toBe('added');
    for (let tries = 0; (answersById(await egressMessages(client.nc, ['newco'])).get(waiting) ?? 0) === 0 && tries < 100; tries++)
      await new Promise((r) => setTimeout(r, 100));
    expect(answersById(await egressMessages(client.nc, ['newco'])).get(waiting)).toBe(1);
  });
});
