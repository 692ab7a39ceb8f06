import { jetstream, jetstreamManager, DeliverPolicy, AckPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../../dist/messaging/nats/connection.js';
import { NatsBus, EGRESS_STREAM } from '../../dist/messaging/nats/nats-bus.js';
import type { EgressMessage } from '../../dist/messaging/envelope.js';
import { memoryLogger } from './logs.js';

/** A channel-side client of a NATS deployment (what a provider or `send --nats` is). */
export async function natsClient(url: string): Promise<NatsBus> {
  const logger = memoryLogger('warn').logger;
  return NatsBus.open(await connectNats({ url, name: 'test-client' }, logger), logger, { setup: false });
}

/** Every message stored in the egress stream (deduplicated by message id, as a provider reads it). */
export async function egressMessages(nc: NatsConnection): Promise<EgressMessage[]> {
  // Right after a server restart JetStream may still be recovering: retry a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await readEgress(nc);
    } catch (e) {
      if (attempt >= 10) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function readEgress(nc: NatsConnection): Promise<EgressMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(EGRESS_STREAM);
  const total = info.state.messages;
  if (total === 0) return [];
  const name = `audit-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  await jsm.consumers.add(EGRESS_STREAM, { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, inactive_threshold: 60_000_000_000 });
  const consumer = await jetstream(nc).consumers.get(EGRESS_STREAM, name);
  const out: EgressMessage[] = [];
  while (out.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, total - out.length), expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      out.push(m.json<EgressMessage>());
      got++;
    }
    if (got === 0) break;
  }
  await jsm.consumers.delete(EGRESS_STREAM, name);
  return out;
}

/** ingress id -> number of turn-ends (and errors) stored for it. */
export function answersById(msgs: EgressMessage[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of msgs) if (m.kind === 'turn-end' || m.kind === 'error') counts.set(m.in_reply_to, (counts.get(m.in_reply_to) ?? 0) + 1);
  return counts;
}
