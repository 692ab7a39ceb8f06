// Guest call: one node call of a small guest that makes one capability call, through the full
// sandbox (the tenant's worker, the shared-memory job, the scope and grant checks), against the
// floors and peers of the same work, all interleaved in rounds (ABAB) in this process:
//   - raw V8 export: the main core module called directly, a plain function as its import;
//   - plain jco: the component transpiled by jco as is, called in this thread, plain JS import;
//   - Extism's JS SDK, the peer: a plugin making one host function call, in this thread and
//     with runInWorker (its sandboxed form: the plugin in a worker, host functions on the main thread).
// bench-wat's state.get is served inside the worker (from the turn's snapshot); bench-crossing's
// secrets.get crosses to the main thread's store and back: the row with a real crossing.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchScope,
  CALLS,
  CTX,
  dist,
  extismPlugin,
  fixture,
  INPUT,
  interleaved,
  loadAvg,
  plainInstance,
  plainJco,
  quietLogger,
  rawExport,
  stats,
  timeCalls,
} from './lib.mjs';

async function sandboxedPool(wasmPath, secret) {
  const { ComponentRegistry } = await dist('components/registry.js');
  const { WorkerPool } = await dist('sandbox/pool.js');
  const logger = await quietLogger();
  const registry = new ComponentRegistry(mkdtempSync(join(tmpdir(), 'bench-cache-')));
  const compiled = await registry.compile(await registry.loadFile(wasmPath), 64);
  const pool = new WorkerPool({ logger, size: 1, spare: false });
  await pool.start();
  const { make } = await benchScope({ logger, secret });
  const call = async () => {
    const out = await pool.invoke({ component: compiled, scope: make(), input: INPUT });
    if (out.replies[0] !== 'ok') throw new Error(`bad answer: ${JSON.stringify(out)}`);
  };
  return { call, close: () => pool.close() };
}

const row = (bench, measure, ours, base, label, extra = {}) => ({ bench, measure, ours, baseline: base, baselineLabel: label, unit: 'ms', ...extra });

async function watRows(name, importModule, label, secret) {
  const load0 = loadAvg();
  const wasm = fixture(name);
  const plain = await plainInstance(await plainJco(wasm));
  const raw = await rawExport(wasm, importModule);
  const ours = await sandboxedPool(wasm, secret);
  const contenders = {
    ours: (n) => timeCalls(ours.call, n, 200),
    jco: (n) => timeCalls(() => plain.invoke(CTX, INPUT), n, 200),
    raw: (n) => timeCalls(raw, n, 200),
  };
  let extism;
  if (secret) {
    extism = { thread: await extismPlugin(false), worker: await extismPlugin(true) };
    contenders.extismThread = (n) => timeCalls(extism.thread.call, n, 200);
    contenders.extismWorker = (n) => timeCalls(extism.worker.call, n, 200);
  }
  const s = Object.fromEntries(Object.entries(await interleaved(contenders, CALLS)).map(([k, v]) => [k, stats(v)]));
  await ours.close();
  if (extism) await Promise.all([extism.thread.close(), extism.worker.close()]);
  const load = `${load0} → ${loadAvg()}`;
  const rows = [
    row(label, `sandboxed call, p50 (${CALLS} calls)`, s.ours.p50, s.jco.p50, 'plain jco in-thread', { ratioTarget: secret ? 3 : undefined, load }),
    row(label, 'sandboxed call, p99', s.ours.p99, s.jco.p99, 'plain jco in-thread', { load }),
    row(label, 'sandboxed call vs the raw V8 export call, p50', s.ours.p50, s.raw.p50, 'raw V8 export call', { load }),
  ];
  if (secret) {
    rows.push(
      row(label, 'sandboxed call vs Extism runInWorker (one host function call), p50', s.ours.p50, s.extismWorker.p50, 'Extism JS SDK, runInWorker', {
        ratioTarget: 1,
        load,
      }),
      row(label, 'sandboxed call vs Extism runInWorker, p99', s.ours.p99, s.extismWorker.p99, 'Extism JS SDK, runInWorker', { load }),
      row(label, 'sandboxed call vs Extism in-thread (one host function call), p50', s.ours.p50, s.extismThread.p50, 'Extism JS SDK, in-thread', { load }),
    );
  }
  return rows;
}

async function jsRows() {
  const load0 = loadAvg();
  const wasm = fixture('bench-js');
  const plain = await plainInstance(await plainJco(wasm));
  const ours = await sandboxedPool(wasm, false);
  const n = Math.max(400, Math.floor(CALLS / 4));
  const s = await interleaved({ ours: (k) => timeCalls(ours.call, k, 50), jco: (k) => timeCalls(() => plain.invoke(CTX, INPUT), k, 50) }, n);
  await ours.close();
  const a = stats(s.ours);
  const b = stats(s.jco);
  const load = `${load0} → ${loadAvg()}`;
  return [
    row('guest call (JS)', `sandboxed call, p50 (${n} calls)`, a.p50, b.p50, 'plain jco in-thread', { load }),
    row('guest call (JS)', 'sandboxed call, p99', a.p99, b.p99, 'plain jco in-thread', { load }),
  ];
}

export async function run() {
  return [
    ...(await watRows('bench-wat', 'greentic:host/state@0.1.0', 'guest call (WAT, state served in the worker)', false)),
    ...(await watRows('bench-crossing', 'greentic:host/secrets@0.1.0', 'guest call (WAT, one real crossing)', true)),
    ...(await jsRows()),
  ];
}
