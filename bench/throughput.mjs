// Throughput: messages per second through the 3-node WAT flow for BENCH_SECONDS (20 s), on the
// embedded bus and over NATS, with many messages in flight, counting the messages lost (never
// answered) and answered twice. The baseline is a raw NATS request/reply loop with the same
// number of requests in flight.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { benchBundle, channelOf } from './bundle.mjs';
import { dist, quietLogger, SECONDS } from './lib.mjs';
import { startNats } from './nats.mjs';

const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const USERS = Number(process.env.BENCH_USERS ?? 1000);

export async function hostThroughput(natsUrl) {
  const { GreenticHost } = await dist('host.js');
  const { newMessageId } = await dist('messaging/conversation.js');
  const { encodeJson, decodeJson } = await dist('messaging/envelope.js');
  const { ingressSubject } = await dist('messaging/subjects.js');
  const logger = await quietLogger();
  process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
  const host = await GreenticHost.start({
    bundleDir: benchBundle({ tenants: 1 }),
    dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')),
    logger,
    ...(natsUrl ? { nats: { url: natsUrl } } : {}),
  });
  let client = host.bus;
  if (natsUrl) {
    const { connectNats } = await dist('messaging/nats/connection.js');
    const { NatsBus } = await dist('messaging/nats/nats-bus.js');
    client = await NatsBus.open(await connectNats({ url: natsUrl }, logger), logger, { setup: false });
  }
  const addr = channelOf('t0');
  const ends = new Map();
  const waiting = new Map();
  client.subscribe('greentic.messaging.egress.prod.t0.t.c', (m) => {
    const d = decodeJson(m.data);
    if (!d.ok || (d.value.kind !== 'turn-end' && d.value.kind !== 'error')) return;
    const id = d.value.in_reply_to;
    ends.set(id, (ends.get(id) ?? 0) + 1);
    waiting.get(id)?.();
    waiting.delete(id);
  });
  const subject = ingressSubject(addr);
  let sent = 0;
  let running = true;
  const until = performance.now() + SECONDS * 1000;
  // Users take turns so that no user has two messages in flight (a conversation is sequential).
  const lane = async (lane) => {
    for (let n = 0; running; n++) {
      const id = newMessageId();
      const done = new Promise((r) => waiting.set(id, r));
      sent++;
      await client.publishDurable(subject, encodeJson({ id, user: `u${(lane + n * IN_FLIGHT) % USERS}`, text: 'hello' }), id);
      await done;
      if (performance.now() > until) running = false;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => lane(i)));
  const elapsed = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  const answered = [...ends.values()].filter((n) => n >= 1).length;
  const twice = [...ends.values()].filter((n) => n > 1).length;
  if (natsUrl) await client.close();
  await host.close();
  return { rate: answered / elapsed, lost: sent - answered, twice, sent };
}

async function rawThroughput(url) {
  const responder = await connect({ servers: url });
  const requester = await connect({ servers: url });
  responder.subscribe('bench.echo', { callback: (_e, m) => m.respond(m.data) });
  await responder.flush();
  const data = new TextEncoder().encode(JSON.stringify({ id: 'm0123456789abcdef', user: 'u1', text: 'hello' }));
  let done = 0;
  const until = performance.now() + Math.min(SECONDS, 5) * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < until) {
        await requester.request('bench.echo', data, { timeout: 5000 });
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - t0) / 1000);
  await requester.close();
  await responder.close();
  return rate;
}

export async function run() {
  const nats = await startNats();
  try {
    const raw = await rawThroughput(nats.url);
    const embedded = await hostThroughput(undefined);
    const overNats = await hostThroughput(nats.url);
    return [
      {
        bench: 'throughput',
        measure: `3-node WAT flow, embedded bus, ${SECONDS} s, ${IN_FLIGHT} in flight`,
        ours: embedded.rate,
        baseline: raw,
        baselineLabel: 'raw NATS request/reply',
        target: 20_000,
        higherIsBetter: true,
        unit: 'msg/s',
      },
      {
        bench: 'throughput',
        measure: `embedded: lost / answered twice (of ${embedded.sent})`,
        ours: `${embedded.lost} / ${embedded.twice}`,
        unit: 'text',
        target: undefined,
      },
      {
        bench: 'throughput',
        measure: `3-node WAT flow over NATS, ${SECONDS} s, ${IN_FLIGHT} in flight`,
        ours: overNats.rate,
        baseline: raw,
        baselineLabel: 'raw NATS request/reply',
        target: 10_000,
        higherIsBetter: true,
        unit: 'msg/s',
      },
      {
        bench: 'throughput',
        measure: `NATS: lost / answered twice (of ${overNats.sent})`,
        ours: `${overNats.lost} / ${overNats.twice}`,
        unit: 'text',
        target: undefined,
      },
    ];
  } finally {
    await nats.stop();
  }
}
