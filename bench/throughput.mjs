// Throughput: messages per second through the 3-node WAT flow, BENCH_IN_FLIGHT lanes over
// BENCH_USERS sessions, each message with a reply deadline (lanes.mjs: a late or missing answer
// is lost, an error is an error, and answers are counted until the ack-wait window has passed).
// Each row runs interleaved with its floor in the same process, in rounds of the same length
// and payload (ABAB): the embedded bus against the minimal embedded turn loop, the embedded
// bus with a CPU hog beside it against the same without, NATS against the minimal durable turn.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { benchBundle, channelOf } from './bundle.mjs';
import { embeddedFloorThroughput, natsFloor } from './floors.mjs';
import { AnswerBook, runLanes } from './lanes.mjs';
import { dist, loadAvg, quietLogger, SECONDS } from './lib.mjs';
import { startNats } from './nats.mjs';

const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const USERS = Number(process.env.BENCH_USERS ?? 1000);
const DEADLINE_MS = Number(process.env.BENCH_REPLY_MS ?? 5000);
const HOGS = Number(process.env.BENCH_HOGS ?? availableParallelism());
/** The NATS host's ack wait: answers are watched for this long after a round, so a redelivery answered twice is seen. */
const ACK_WAIT_MS = 3000;
const ROUNDS = 2;

/** A host on the bench bundle, and lanes that drive it; `close()` when done. */
export async function hostLanes(natsUrl) {
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
    ...(natsUrl ? { nats: { url: natsUrl }, ackWaitMs: ACK_WAIT_MS } : {}),
  });
  let client = host.bus;
  if (natsUrl) {
    const { connectNats } = await dist('messaging/nats/connection.js');
    const { NatsBus } = await dist('messaging/nats/nats-bus.js');
    client = await NatsBus.open(await connectNats({ url: natsUrl }, logger), logger, { setup: false });
  }
  const book = new AnswerBook();
  client.subscribe('greentic.messaging.egress.prod.t0.t.c', (m) => {
    const d = decodeJson(m.data);
    if (!d.ok) return;
    if (d.value.kind === 'turn-end') book.answer(d.value.in_reply_to, 'ok');
    else if (d.value.kind === 'error') book.answer(d.value.in_reply_to, 'error');
  });
  const subject = ingressSubject(channelOf('t0'));
  const send = async (lane, n) => {
    const id = newMessageId();
    await client.publishDurable(subject, encodeJson({ id, user: `u${(lane + n * IN_FLIGHT) % USERS}`, text: 'hello' }), id);
    return id;
  };
  return {
    run: (seconds) => runLanes({ inFlight: IN_FLIGHT, seconds, deadlineMs: DEADLINE_MS, settleMs: natsUrl ? ACK_WAIT_MS + 500 : 500, send, book }),
    close: async () => {
      if (natsUrl) await client.close();
      await host.close();
    },
  };
}

/** Sum rounds: rate over all their time, and every count. */
function total(rounds) {
  const t = { sent: 0, ok: 0, errors: 0, lost: 0, twice: 0, elapsed: 0 };
  for (const r of rounds) for (const k of Object.keys(t)) t[k] += r[k];
  return { ...t, rate: t.ok / t.elapsed };
}

/** ABAB: `a` and `b` (each (seconds) => lanes result) in ROUNDS rounds of SECONDS / (2 ROUNDS) each. */
async function abab(a, b) {
  const ra = [];
  const rb = [];
  const each = SECONDS / (2 * ROUNDS);
  for (let i = 0; i < ROUNDS; i++) {
    ra.push(await a(each));
    rb.push(await b(each));
  }
  return [total(ra), total(rb)];
}

/** N busy processes (a CPU hog) for the duration of `run`. */
async function withHog(run) {
  const hogs = Array.from({ length: HOGS }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  try {
    return await run();
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
    await Promise.all(hogs.map((h) => new Promise((r) => (h.exitCode !== null || h.signalCode !== null ? r() : h.once('exit', r)))));
  }
}

const counts = (bench, what, r) => ({
  bench,
  measure: `${what}: lost / errors / answered twice (of ${r.sent})`,
  ours: `${r.lost} / ${r.errors} / ${r.twice}`,
  unit: 'text',
  expect: '0 / 0 / 0',
});

async function embeddedRows() {
  const load0 = loadAvg();
  const host = await hostLanes(undefined);
  const floor = (s) => embeddedFloorThroughput({ inFlight: IN_FLIGHT, users: USERS, seconds: s, deadlineMs: DEADLINE_MS });
  const [ours, base] = await abab(host.run, floor);
  const load1 = loadAvg();
  // Under a CPU hog, against the same without it, interleaved.
  const [quiet, hogged] = await abab(host.run, (s) => withHog(() => host.run(s)));
  await host.close();
  const load2 = loadAvg();
  const what = `3-node WAT flow, embedded bus, ${SECONDS / 2} s, ${IN_FLIGHT} in flight`;
  return [
    { bench: 'throughput', measure: what, ours: ours.rate, baseline: base.rate, baselineLabel: 'minimal embedded turn loop', ratioTarget: 0.5, higherIsBetter: true, unit: 'msg/s', load: `${load0} → ${load1}` },
    { ...counts('throughput', 'embedded', ours), load: `${load0} → ${load1}` },
    {
      bench: 'throughput',
      measure: `the same with a CPU hog beside it (${HOGS} busy processes)`,
      ours: hogged.rate,
      baseline: quiet.rate,
      baselineLabel: 'the same, quiet (interleaved)',
      ratioTarget: 0.66,
      higherIsBetter: true,
      unit: 'msg/s',
      load: `${load1} → ${load2}`,
    },
    { ...counts('throughput', 'under the hog', hogged), load: `${load1} → ${load2}` },
  ];
}

async function natsRows(url) {
  const load0 = loadAvg();
  const host = await hostLanes(url);
  const nc = await connect({ servers: url, noAsyncTraces: true }); // as the host connects: the floor must not pay what the host does not
  const floor = await natsFloor(nc);
  const floorRun = (seconds) => {
    const book = new AnswerBook();
    let next = 0;
    const send = async (lane, n) => {
      const id = `f${next++}`;
      floor.turn(`u${(lane + n * IN_FLIGHT) % USERS}`, id).then(
        () => book.answer(id, 'ok'),
        () => book.answer(id, 'error'),
      );
      return id;
    };
    return runLanes({ inFlight: IN_FLIGHT, seconds, deadlineMs: DEADLINE_MS, settleMs: 0, send, book });
  };
  const [ours, base] = await abab(host.run, floorRun);
  await nc.close();
  await host.close();
  const load = `${load0} → ${loadAvg()}`;
  return [
    {
      bench: 'throughput',
      measure: `3-node WAT flow over NATS, ${SECONDS / 2} s, ${IN_FLIGHT} in flight`,
      ours: ours.rate,
      baseline: base.rate,
      baselineLabel: 'minimal durable JetStream turn, pipelined',
      ratioTarget: 0.7,
      higherIsBetter: true,
      unit: 'msg/s',
      load,
    },
    { ...counts('throughput', 'NATS', ours), load },
  ];
}

export async function run() {
  const rows = await embeddedRows();
  const nats = await startNats();
  try {
    rows.push(...(await natsRows(nats.url)));
  } finally {
    await nats.stop();
  }
  return rows;
}
