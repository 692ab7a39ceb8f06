// Message latency: one message through a 3-node WAT flow, from ingress to the last egress
// reply, on the embedded bus and over NATS, against a raw NATS request/reply on the same server.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { benchBundle, channelOf } from './bundle.mjs';
import { dist, quietLogger, stats, timeCalls } from './lib.mjs';
import { startNats } from './nats.mjs';

const N = Number(process.env.BENCH_MESSAGES ?? 2000);

async function hostLatency(nats) {
  const { GreenticHost } = await dist('host.js');
  const { converse } = await dist('messaging/conversation.js');
  const logger = await quietLogger();
  process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
  const host = await GreenticHost.start({
    bundleDir: benchBundle({ tenants: 1 }),
    dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')),
    logger,
    workers: 2,
    ...(nats ? { nats: { url: nats } } : {}),
  });
  let client = host.bus;
  if (nats) {
    const { connectNats } = await dist('messaging/nats/connection.js');
    const { NatsBus } = await dist('messaging/nats/nats-bus.js');
    client = await NatsBus.open(await connectNats({ url: nats }, logger), logger, { setup: false });
  }
  const addr = channelOf('t0');
  // Each message from its own user: a fresh session, the whole 3-node flow, a session write.
  const samples = await timeCalls(
    async (i) => {
      const r = await converse(client, addr, { user: `u${i}`, text: 'hello' });
      if (!r.ok || r.replies.length !== 3) throw new Error(`bad answer: ${JSON.stringify(r)}`);
    },
    N,
    200,
  );
  if (nats) await client.close();
  await host.close();
  return stats(samples);
}

async function rawRequestReply(url) {
  const responder = await connect({ servers: url });
  const requester = await connect({ servers: url });
  responder.subscribe('bench.echo', { callback: (_e, m) => m.respond(m.data) });
  await responder.flush();
  const data = new TextEncoder().encode(JSON.stringify({ id: 'm0123456789abcdef', user: 'u1', text: 'hello' }));
  const samples = await timeCalls(() => requester.request('bench.echo', data, { timeout: 5000 }), N, 200);
  await requester.close();
  await responder.close();
  return stats(samples);
}

export async function run() {
  const nats = await startNats();
  try {
    const raw = await rawRequestReply(nats.url);
    const embedded = await hostLatency(undefined);
    const overNats = await hostLatency(nats.url);
    return [
      {
        bench: 'message latency',
        measure: `3-node WAT flow, embedded bus, p50 (${N} messages)`,
        ours: embedded.p50,
        baseline: raw.p50,
        baselineLabel: 'raw NATS request/reply',
        unit: 'ms',
      },
      {
        bench: 'message latency',
        measure: '3-node WAT flow, embedded bus, p99',
        ours: embedded.p99,
        baseline: raw.p99,
        baselineLabel: 'raw NATS request/reply',
        unit: 'ms',
      },
      {
        bench: 'message latency',
        measure: '3-node WAT flow over NATS, p50',
        ours: overNats.p50,
        baseline: raw.p50,
        baselineLabel: 'raw NATS request/reply',
        ratioTarget: 1.5,
        unit: 'ms',
      },
      {
        bench: 'message latency',
        measure: '3-node WAT flow over NATS, p99',
        ours: overNats.p99,
        baseline: raw.p99,
        baselineLabel: 'raw NATS request/reply',
        unit: 'ms',
      },
    ];
  } finally {
    await nats.stop();
  }
}
