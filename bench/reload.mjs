// Reload: tenant B's turn latency (3-node WAT flow) alone, and while tenant A is reloaded again
// and again (its flow edited, each reload a new version validated, loaded and swapped in, its
// components made ready), one reload starting every BENCH_RELOAD_EVERY_MS (300: the watcher's
// debounce, the most often an edit reloads a tenant; 0: back to back); BENCH_RELOAD_RUNS (5)
// runs, each B alone then B during A's reloads, every run's p99 ratio reported.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { aloneThenBeside, besideRows } from './beside.mjs';
import { benchBundle, channelOf } from './bundle.mjs';
import { dist, quietLogger } from './lib.mjs';

const TURNS = Number(process.env.BENCH_TURNS ?? 300);
const RUNS = Number(process.env.BENCH_RELOAD_RUNS ?? 5);
const EVERY_MS = Number(process.env.BENCH_RELOAD_EVERY_MS ?? 300);

export async function run() {
  const { GreenticHost } = await dist('host.js');
  const { converse } = await dist('messaging/conversation.js');
  process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
  const bundle = benchBundle({ names: ['quiet', 'edited'], settings: { concurrency: 2 } });
  const host = await GreenticHost.start({ bundleDir: bundle, dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')), logger: await quietLogger(), workers: 2 });
  const flowFile = join(bundle, 'tenants', 'edited', 'flows', 'f.yaml');
  const flow = readFileSync(flowFile, 'utf8');
  let reloads = 0;
  // A is edited and reloaded, one reload every EVERY_MS, while B converses.
  const { results, load } = await aloneThenBeside({
    converse,
    host,
    channel: channelOf('quiet'),
    turns: TURNS,
    runs: RUNS,
    disturb: async (going) => {
      while (going()) {
        const next = performance.now() + EVERY_MS;
        writeFileSync(flowFile, flow.replace('version: "1"', `version: "${reloads + 2}"`));
        const report = await host.tenants.reload('edited');
        if (report.outcome !== 'reloaded') throw new Error(`reload ${reloads}: ${report.outcome}`);
        reloads++;
        if (going()) await sleep(Math.max(0, next - performance.now()));
      }
    },
  });
  await host.close();
  return besideRows('reload', results, load(), {
    p50: `A is reloaded (${reloads} reloads, one every ${EVERY_MS} ms)`,
    p99: 'A is reloaded',
  });
}
