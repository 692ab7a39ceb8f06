// The embedded session store alone, main's design against this one, interleaved (ABAB) in one
// process: hot sessions each updated in a loop (a turn's put after its get), for a few seconds
// per round. Reports puts/s, session-file writes and journal syncs per 1000 puts, and the
// bytes encoded per put. Paths of the two dist/ trees: BEFORE (default: none, then only this
// one runs) and this checkout's.
//   node bench/session-store.mjs [--seconds 4] [--sessions 64] [--rounds 2] [--before DIR/dist]
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DIST } from './lib.mjs';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, sessions: { type: 'string', default: '64' }, rounds: { type: 'string', default: '2' }, before: { type: 'string' } } });
const seconds = Number(values.seconds);
const sessions = Number(values.sessions);

// Count what reaches the disk: renames (a session file written) and syncs, through fs/promises
// (patched on node's own object, then pushed to the ES module exports both stores import).
const fsp = createRequire(import.meta.url)('node:fs').promises;
const counts = { renames: 0, syncs: 0 };
const rename = fsp.rename;
fsp.rename = (...a) => (counts.renames++, rename(...a));
syncBuiltinESMExports();
const countSyncs = (fh) => {
  for (const m of ['sync', 'datasync']) {
    const f = fh[m].bind(fh);
    fh[m] = () => (counts.syncs++, f());
  }
  return fh;
};
const open = fsp.open;
fsp.open = async (...a) => countSyncs(await open(...a));
syncBuiltinESMExports();

async function variant(dist) {
  const { FileSessionStore } = await import(join(dist, 'stores', 'file-session-store.js'));
  const { sessionKey } = await import(join(dist, 'stores', 'keys.js'));
  return { FileSessionStore, sessionKey };
}

function record(session, turns) {
  return {
    v: 1, tenant: 'acme', env: 'prod', team: 'support', session, channel: 'slack', user: 'u1',
    cursor: { flow: 'f', node: 'ask', waiting: true }, state: { name: 'Ann', issue: 'x'.repeat(200) },
    created_at: 1, updated_at: Date.now(), turns, recent_messages: Array.from({ length: 20 }, (_, i) => `m${i}`),
    transcript: Array.from({ length: 10 }, (_, i) => ({ from: i % 2 ? 'bot' : 'user', text: `line ${i} of the conversation`, at: 1 })),
    last_turn: { id: 'm1', outbox: [{ channel: 'slack', text: 'hello' }] },
  };
}

async function round({ FileSessionStore, sessionKey }) {
  const dir = mkdtempSync(join(tmpdir(), 'greentic-store-bench-'));
  const store = new FileSessionStore(dir);
  counts.renames = counts.syncs = 0;
  const end = Date.now() + seconds * 1000;
  let puts = 0;
  await Promise.all(
    Array.from({ length: sessions }, async (_, i) => {
      const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, `s${i}`);
      while (Date.now() < end) {
        const got = await store.get(key);
        await store.put(key, record(`s${i}`, (got?.record.turns ?? 0) + 1), got?.revision ?? 0);
        puts++;
      }
    }),
  );
  const during = { ...counts };
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { putsPerS: Math.round(puts / seconds), fileWritesPer1k: Math.round((during.renames / puts) * 1000), syncsPer1k: Math.round((during.syncs / puts) * 1000) };
}

const variants = [['this checkout', await variant(DIST)]];
if (values.before) variants.unshift(['before', await variant(values.before)]);
const results = new Map(variants.map(([n]) => [n, []]));
for (let r = 0; r < Number(values.rounds); r++) for (const [name, v] of variants) results.get(name).push(await round(v));
for (const [name, rs] of results) {
  const med = (k) => rs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(rs.length / 2)];
  console.log(`${name.padEnd(14)} ${String(med('putsPerS')).padStart(7)} puts/s   ${String(med('fileWritesPer1k')).padStart(5)} session-file writes / 1000 puts   ${String(med('syncsPer1k')).padStart(5)} syncs / 1000 puts   (${sessions} hot sessions, ${seconds} s x ${rs.length})`);
}
