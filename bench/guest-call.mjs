// Guest call: one node call whose guest makes one capability call (state.get), measured
//   - ours: through the full sandbox (worker, shared-memory bridge, scope and grant check);
//   - plain jco: the same component transpiled by jco 1.35 as is, called in this thread with
//     a plain JS import (no tenancy) - the baseline for the in-thread glue;
//   - naive worker: the plain jco instance in a worker, one postMessage round trip per call.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { benchScope, CALLS, CTX, dist, fixture, INPUT, plainInstance, plainJco, quietLogger, stats, timeCalls } from './lib.mjs';

async function inThread(plain) {
  const node = await plainInstance(plain);
  return timeCalls(() => node.invoke(CTX, INPUT));
}

async function naiveWorker(plain) {
  const w = new Worker(new URL('./naive-worker.mjs', import.meta.url), { workerData: plain });
  await new Promise((r) => w.once('message', r));
  const call = () =>
    new Promise((resolve) => {
      w.once('message', resolve);
      w.postMessage({ ctx: CTX, input: INPUT });
    });
  const samples = await timeCalls(call);
  await w.terminate();
  return samples;
}

async function sandboxed(wasmPath) {
  const { ComponentRegistry } = await dist('components/registry.js');
  const { WorkerPool } = await dist('sandbox/pool.js');
  const logger = await quietLogger();
  const registry = new ComponentRegistry(mkdtempSync(join(tmpdir(), 'bench-cache-')));
  const compiled = await registry.compile(await registry.loadFile(wasmPath), 64);
  const pool = new WorkerPool({ logger, size: 1, spare: false });
  await pool.start();
  const { make } = await benchScope({ logger });
  const samples = await timeCalls(() => pool.invoke({ component: compiled, scope: make(), input: INPUT }));
  await pool.close();
  return samples;
}

export async function run() {
  const rows = [];
  for (const [label, name, target] of [
    ['guest call (WAT)', 'bench-wat', 0.015],
    ['guest call (JS)', 'bench-js', undefined],
  ]) {
    const wasm = fixture(name);
    const plain = await plainJco(wasm);
    const base = stats(await inThread(plain));
    const naive = stats(await naiveWorker(plain));
    const ours = stats(await sandboxed(wasm));
    rows.push(
      {
        bench: label,
        measure: `sandboxed call, p50 (${CALLS} calls)`,
        ours: ours.p50,
        baseline: base.p50,
        baselineLabel: 'plain jco in-thread',
        target,
        unit: 'ms',
      },
      { bench: label, measure: 'sandboxed call, p99', ours: ours.p99, baseline: base.p99, baselineLabel: 'plain jco in-thread', unit: 'ms' },
      {
        bench: label,
        measure: 'sandboxed call vs naive worker, p50',
        ours: ours.p50,
        baseline: naive.p50,
        baselineLabel: 'naive worker postMessage',
        unit: 'ms',
      },
      {
        bench: label,
        measure: 'sandboxed call vs naive worker, p99',
        ours: ours.p99,
        baseline: naive.p99,
        baselineLabel: 'naive worker postMessage',
        unit: 'ms',
      },
    );
  }
  return rows;
}
