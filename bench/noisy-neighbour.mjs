// Noisy neighbour: tenant B's turn latency (3-node WAT flow) alone, and while tenant A's guest
// loops until its deadline (300 ms), again and again; BENCH_NOISY_RUNS (5) runs, each B alone
// then B beside A, every run's p99 ratio reported.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aloneThenBeside, besideRows } from './beside.mjs';
import { benchBundle, channelOf } from './bundle.mjs';
import { dist, quietLogger } from './lib.mjs';

const TURNS = Number(process.env.BENCH_TURNS ?? 300);
const RUNS = Number(process.env.BENCH_NOISY_RUNS ?? 5);

export async function run() {
  const { GreenticHost } = await dist('host.js');
  const { converse } = await dist('messaging/conversation.js');
  process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
  const bundle = benchBundle({ names: ['quiet'], extraTenants: [{ id: 'noisy', component: 'faults', nodes: 1 }], settings: { concurrency: 2 } });
  const host = await GreenticHost.start({ bundleDir: bundle, dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')), logger: await quietLogger(), workers: 2 });
  let loops = 0;
  // A's guest loops to its deadline again and again while B converses.
  const { results, load } = await aloneThenBeside({
    converse,
    host,
    channel: channelOf('quiet'),
    turns: TURNS,
    runs: RUNS,
    disturb: async (going) => {
      while (going()) {
        await converse(host.bus, channelOf('noisy'), { user: `n${loops % 5}`, text: 'l' }, 10_000);
        loops++;
      }
    },
  });
  await host.close();
  return besideRows('noisy neighbour', results, load(), { p50: `A loops (${loops} loops of 300 ms)`, p99: 'A loops' });
}
