import { jetstream, jetstreamManager, DeliverPolicy, AckPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../../dist/messaging/nats/connection.js';
import { NatsBus, egressStream } from '../../dist/messaging/nats/nats-bus.js';
import type { EgressMessage } from '../../dist/messaging/envelope.js';
import { memoryLogger } from './logs.js';

/** A channel-side client of a NATS deployment (what a provider or `send --nats` is). */
export async function natsClient(url: string): Promise<NatsBus> {
  const logger = memoryLogger('warn').logger;
  return NatsBus.open(await connectNats({ url, name: 'test-client' }, logger), logger, { setup: false });
}

/** Every message stored in the tenants' egress streams (deduplicated by message id, as a provider reads it). */
export async function egressMessages(nc: NatsConnection, tenants: readonly string[] = ['acme', 'bigcorp']): Promise<EgressMessage[]> {
  // Right after a server restart JetStream may still be recovering: retry a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      const all: EgressMessage[] = [];
      for (const t of tenants) all.push(...(await readEgress(nc, egressStream(t))));
      return all;
    } catch (e) {
      if (attempt >= 10) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function readEgress(nc: NatsConnection, stream: string): Promise<EgressMessage[]> {
  const jsm = await jetstreamManager(nc);
  let info;
  try {
    info = await jsm.streams.info(stream);
  } catch (e) {
    if (/not found/.test((e as Error).message)) return [];
    throw e;
  }
  const total = info.state.messages;
  if (total === 0) return [];
  const name = `audit-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  await jsm.consumers.add(stream, { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, inactive_threshold: 60_000_000_000 });
  const consumer = await jetstream(nc).consumers.get(stream, name);
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
  await jsm.consumers.delete(stream, name);
  return out;
}

/** ingress id -> number of turn-ends (and errors) stored for it. */
export function answersById(msgs: EgressMessage[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of msgs) if (m.kind === 'turn-end' || m.kind === 'error') counts.set(m.in_reply_to, (counts.get(m.in_reply_to) ?? 0) + 1);
  return counts;
}
