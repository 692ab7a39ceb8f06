// Process tier: the same node call in the host's worker threads (tenant "threads") and in a
// tenant's sandbox process (tenant "sandboxed", settings.isolation: process), one pool routing
// both, interleaved in rounds (ABAB) in this process. The job crosses to the child's worker over
// IPC and back; bench-crossing's secrets.get crosses once more (child -> host's store -> child).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchScope, CALLS, dist, fixture, INPUT, interleaved, loadAvg, quietLogger, stats, timeCalls } from './lib.mjs';

async function tiers(wasmPath, secret) {
  const { ComponentRegistry } = await dist('components/registry.js');
  const { WorkerPool } = await dist('sandbox/pool.js');
  const logger = await quietLogger();
  const registry = new ComponentRegistry(mkdtempSync(join(tmpdir(), 'bench-cache-')));
  const compiled = await registry.compile(await registry.loadFile(wasmPath), 64);
  const pool = new WorkerPool({
    logger,
    size: 1,
    spare: false,
    sandbox: (t) => ({ isolation: t === 'sandboxed' ? 'process' : 'thread', heapMib: 256, workers: 1 }),
  });
  await pool.start();
  const caller = async (tenant) => {
    const { make } = await benchScope({ logger, secret, tenant });
    return async () => {
      const out = await pool.invoke({ component: compiled, scope: make(), input: INPUT });
      if (out.replies[0] !== 'ok') throw new Error(`bad answer: ${JSON.stringify(out)}`);
    };
  };
  // Resident memory of the tenant's sandbox processes (the worker and its spare), from /proc.
  const rssMb = () => {
    const mb = pool.sandboxPids('sandboxed').map((pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024);
    return mb.reduce((a, b) => a + b, 0) / mb.length;
  };
  return { thread: await caller('threads'), process: await caller('sandboxed'), rssMb, close: () => pool.close() };
}

const row = (bench, measure, ours, base, extra = {}) => ({ bench, measure, ours, baseline: base, baselineLabel: 'the same call in the thread tier', unit: 'ms', ...extra });

async function rows(name, label, secret) {
  const load0 = loadAvg();
  const t = await tiers(fixture(name), secret);
  const n = Math.max(1000, Math.floor(CALLS / 5));
  const s = await interleaved({ process: (k) => timeCalls(t.process, k, 100), thread: (k) => timeCalls(t.thread, k, 100) }, n);
  const rss = t.rssMb();
  await t.close();
  const a = stats(s.process);
  const b = stats(s.thread);
  const load = `${load0} → ${loadAvg()}`;
  return [
    row(label, `process-tier call, p50 (${n} calls)`, a.p50, b.p50, { load }),
    row(label, 'process-tier call, p99', a.p99, b.p99, { load }),
    { bench: label, measure: 'RSS of one sandbox process after the calls', ours: rss, unit: 'MB', load },
  ];
}

export async function run() {
  return [
    ...(await rows('bench-wat', 'process tier (WAT, state served in the worker)', false)),
    ...(await rows('bench-crossing', 'process tier (WAT, one real crossing)', true)),
  ];
}
