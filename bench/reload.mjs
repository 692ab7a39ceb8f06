// Reload: tenant B's turn latency (3-node WAT flow) alone, and while tenant A is reloaded again
// and again (its flow edited, each reload a new version validated, loaded and swapped in, its
// components made ready), one reload starting every BENCH_RELOAD_EVERY_MS (300: the watcher's
// debounce, the most often an edit reloads a tenant; 0: back to back); BENCH_RELOAD_RUNS (5)
// runs, each B alone then B during A's reloads, every run's p99 ratio reported.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchBundle, channelOf } from './bundle.mjs';
import { dist, loadAvg, quietLogger, stats } from './lib.mjs';

const TURNS = Number(process.env.BENCH_TURNS ?? 300);
const RUNS = Number(process.env.BENCH_RELOAD_RUNS ?? 5);
const EVERY_MS = Number(process.env.BENCH_RELOAD_EVERY_MS ?? 300);

export async function run() {
  const { GreenticHost } = await dist('host.js');
  const { converse } = await dist('messaging/conversation.js');
  process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
  const bundle = benchBundle({ names: ['quiet', 'edited'] });
  const host = await GreenticHost.start({ bundleDir: bundle, dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')), logger: await quietLogger(), workers: 2 });
  const flowFile = join(bundle, 'tenants', 'edited', 'flows', 'f.yaml');
  const flow = readFileSync(flowFile, 'utf8');
  const turns = async (tag) => {
    const samples = [];
    for (let i = 0; i < TURNS; i++) {
      const t0 = performance.now();
      const r = await converse(host.bus, channelOf('quiet'), { user: `${tag}${i % 20}`, text: 'hello' }, 10_000);
      if (!r.ok) throw new Error(r.message);
      samples.push(performance.now() - t0);
    }
    return stats(samples);
  };
  await turns('warm');
  const load0 = loadAvg();
  const runs = [];
  let reloads = 0;
  // Each run: B alone, then B while A is edited and reloaded back to back (AB, RUNS times).
  for (let r = 0; r < RUNS; r++) {
    const alone = await turns(`a${r}-`);
    let reloading = true;
    const edits = (async () => {
      while (reloading) {
        const next = performance.now() + EVERY_MS;
        writeFileSync(flowFile, flow.replace('version: "1"', `version: "${reloads + 2}"`));
        const report = await host.tenants.reload('edited');
        if (report.outcome !== 'reloaded') throw new Error(`reload ${reloads}: ${report.outcome}`);
        reloads++;
        if (reloading) await sleep(Math.max(0, next - performance.now()));
      }
    })();
    const shared = await turns(`b${r}-`);
    reloading = false;
    await edits;
    runs.push({ alone, shared });
  }
  await host.close();
  const load = `${load0} → ${loadAvg()}`;
  const ratios = runs.map((r) => (r.shared.p99 / r.alone.p99).toFixed(2)).join(', ');
  const worst = runs.reduce((w, r) => (r.shared.p99 / r.alone.p99 > w.shared.p99 / w.alone.p99 ? r : w));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return [
    {
      bench: 'reload',
      measure: `B's turn p50 while A is reloaded (${reloads} reloads, one every ${EVERY_MS} ms), median of ${RUNS} runs`,
      ours: median(runs.map((r) => r.shared.p50)),
      baseline: median(runs.map((r) => r.alone.p50)),
      baselineLabel: 'B alone (each run)',
      unit: 'ms',
      load,
    },
    {
      bench: 'reload',
      measure: `B's turn p99 while A is reloaded, worst of ${RUNS} runs (each run's ratio: ${ratios})`,
      ours: worst.shared.p99,
      baseline: worst.alone.p99,
      baselineLabel: 'B alone (same run)',
      ratioTarget: 1.5,
      unit: 'ms',
      load,
    },
  ];
}
