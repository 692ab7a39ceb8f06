// The floors the host's rows are compared with: the least code that does the same work.
//  - embedded turn: decode the session (CBOR), 3 raw wasm calls of bench-wat's core module,
//    encode it, append it to a journal file with group commit (one fdatasync per batch);
//  - durable NATS turn: JetStream publish of the ingress message (and its ack), KV get of the
//    session, KV update with the revision, JetStream publish of the egress reply.
import { open } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from 'cbor-x';
import { AnswerBook, runLanes } from './lanes.mjs';
import { fixture, rawExport } from './lib.mjs';

/** The minimal embedded turn loop: `turn(user)` resolves when the turn's session is on disk. */
export async function embeddedFloor(users) {
  const invoke = await rawExport(fixture('bench-wat'), 'greentic:host/state@0.1.0');
  const sessions = new Map();
  for (let u = 0; u < users; u++) sessions.set(`u${u}`, encode({ v: 1, user: `u${u}`, cursor: null, state: { k: 'v' }, turns: 0, recent: [] }));
  const file = await open(join(mkdtempSync(join(tmpdir(), 'bench-floor-')), 'journal'), 'a');
  let batch = [];
  let flushing = null;
  // Group commit: the turns waiting when a flush starts share its write and fdatasync.
  const flush = async () => {
    while (batch.length > 0) {
      const mine = batch;
      batch = [];
      await file.write(Buffer.concat(mine.map((m) => m.bytes)));
      await file.datasync();
      for (const m of mine) m.done();
    }
    flushing = null;
  };
  const turn = (user) => {
    const s = decode(sessions.get(user));
    for (let i = 0; i < 3; i++) invoke();
    s.turns++;
    s.recent = [...s.recent, `m${s.turns}`].slice(-32);
    const bytes = encode(s);
    sessions.set(user, bytes);
    return new Promise((done) => {
      batch.push({ bytes, done });
      flushing ??= Promise.resolve().then(flush);
    });
  };
  return { turn, close: () => file.close() };
}

/** Throughput of the embedded floor with the same lanes, users and deadline as the host's row. */
export async function embeddedFloorThroughput({ inFlight, users, seconds, deadlineMs }) {
  const floor = await embeddedFloor(users);
  const book = new AnswerBook();
  let next = 0;
  const send = async (lane, n) => {
    const id = `f${next++}`;
    floor.turn(`u${(lane + n * inFlight) % users}`).then(() => book.answer(id, 'ok'));
    return id;
  };
  const r = await runLanes({ inFlight, seconds, deadlineMs, settleMs: 0, send, book });
  await floor.close();
  return r;
}

/** The minimal durable NATS turn on `nc`: its streams and bucket are made here (names of their own). */
export async function natsFloor(nc) {
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const { Kvm } = await import('@nats-io/kv');
  const jsm = await jetstreamManager(nc);
  for (const name of ['FLOOR_IN', 'FLOOR_OUT']) {
    await jsm.streams.add({ name, subjects: [`floor.${name === 'FLOOR_IN' ? 'in' : 'out'}.>`], storage: 'file' }).catch(() => undefined);
  }
  const js = jetstream(nc);
  const kv = await new Kvm(nc).create('floor_sessions', { history: 1 });
  const enc = new TextEncoder();
  const turn = async (user, id) => {
    await js.publish(`floor.in.${user}`, enc.encode(JSON.stringify({ id, user, text: 'hello' })), { msgID: id });
    const e = await kv.get(user);
    const s = e ? decode(e.value) : { user, turns: 0 };
    s.turns++;
    if (e) await kv.update(user, encode(s), e.revision);
    else await kv.create(user, encode(s));
    await js.publish(`floor.out.${user}`, enc.encode(JSON.stringify({ in_reply_to: id, text: 'ok' })), { msgID: `${id}:0` });
  };
  return { turn };
}
