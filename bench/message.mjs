// Message latency: one message at a time through a 3-node WAT flow, from ingress to the turn's
// end on egress, on the embedded bus and over NATS, each against the floor of the same work in
// the same process, interleaved (ABAB): the minimal embedded turn (CBOR session, 3 raw wasm
// calls, a journal append and fdatasync) and the minimal durable JetStream turn.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { embeddedFloor, natsFloor } from './floors.mjs';
import { benchBundle, channelOf } from './bundle.mjs';
import { dist, loadAvg, quietLogger, stats, timeCalls } from './lib.mjs';
import { startNats } from './nats.mjs';

const N = Number(process.env.BENCH_MESSAGES ?? 2000);

async function hostLatency(nats, n) {
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
      const r = await converse(client, addr, { user: `u${i}`, text: 'hello' }, 10_000);
      if (!r.ok || r.replies.length !== 3) throw new Error(`bad answer: ${JSON.stringify(r)}`);
    },
    n,
    200,
  );
  if (nats) await client.close();
  await host.close();
  return samples;
}

/** The floor, one turn at a time: the minimal embedded turn loop, or the minimal durable NATS turn. */
async function floorLatency(natsUrl, n) {
  if (!natsUrl) {
    const floor = await embeddedFloor(n + 200);
    const samples = await timeCalls((i) => floor.turn(`u${i}`), n, 200);
    await floor.close();
    return samples;
  }
  const nc = await connect({ servers: natsUrl, noAsyncTraces: true }); // as the host connects: the floor must not pay what the host does not
  const floor = await natsFloor(nc);
  const tag = Math.random().toString(36).slice(2, 8);
  const samples = await timeCalls((i) => floor.turn(`u${tag}${i}`, `f${tag}${i}`), n, 200);
  await nc.close();
  return samples;
}

export async function run() {
  const nats = await startNats();
  try {
    const rows = [];
    for (const [label, url, target] of [
      ['embedded bus', undefined, undefined],
      ['over NATS', nats.url, 1.5],
    ]) {
      const load0 = loadAvg();
      // ABAB: half the messages each, twice.
      const half = Math.ceil(N / 2);
      const a = [];
      const b = [];
      for (let r = 0; r < 2; r++) {
        a.push(await hostLatency(url, half));
        b.push(await floorLatency(url, half));
      }
      const ours = stats(a.flat());
      const base = stats(b.flat());
      const floorLabel = url ? 'minimal durable JetStream turn' : 'minimal embedded turn';
      const load = `${load0} → ${loadAvg()}`;
      rows.push(
        { bench: 'message latency', measure: `3-node WAT flow, ${label}, p50 (${2 * half} messages)`, ours: ours.p50, baseline: base.p50, baselineLabel: floorLabel, ratioTarget: target, unit: 'ms', load },
        { bench: 'message latency', measure: `3-node WAT flow, ${label}, p99`, ours: ours.p99, baseline: base.p99, baselineLabel: floorLabel, unit: 'ms', load },
      );
    }
    return rows;
  } finally {
    await nats.stop();
  }
}
