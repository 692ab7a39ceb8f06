// Noisy neighbour: tenant B's turn latency (3-node WAT flow) alone, and while tenant A's guest
// loops until its deadline (300 ms), again and again.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchBundle, channelOf } from './bundle.mjs';
import { dist, quietLogger, stats } from './lib.mjs';

const TURNS = Number(process.env.BENCH_TURNS ?? 300);

export async function run() {
  const { GreenticHost } = await dist('host.js');
  const { converse } = await dist('messaging/conversation.js');
  process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
  const bundle = benchBundle({ names: ['quiet'], extraTenants: [{ id: 'noisy', component: 'faults', nodes: 1 }] });
  const host = await GreenticHost.start({ bundleDir: bundle, dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')), logger: await quietLogger(), workers: 2 });
  const turns = async (tag) => {
    const samples = [];
    for (let i = 0; i < TURNS; i++) {
      const t0 = performance.now();
      const r = await converse(host.bus, channelOf('quiet'), { user: `${tag}${i % 20}`, text: 'hello' });
      if (!r.ok) throw new Error(r.message);
      samples.push(performance.now() - t0);
    }
    return stats(samples);
  };
  await turns('warm');
  const alone = await turns('a');
  let looping = true;
  let loops = 0;
  const noisy = (async () => {
    while (looping) {
      await converse(host.bus, channelOf('noisy'), { user: `n${loops % 5}`, text: 'l' });
      loops++;
    }
  })();
  const shared = await turns('b');
  looping = false;
  await noisy;
  await host.close();
  return [
    {
      bench: 'noisy neighbour',
      measure: `B's turn p50 while A loops (${loops} loops of 300 ms)`,
      ours: shared.p50,
      baseline: alone.p50,
      baselineLabel: 'B alone',
      unit: 'ms',
    },
    {
      bench: 'noisy neighbour',
      measure: "B's turn p99 while A loops",
      ours: shared.p99,
      baseline: alone.p99,
      baselineLabel: 'B alone',
      ratioTarget: 2,
      unit: 'ms',
    },
  ];
}
