// What the noisy-neighbour and reload benchmarks share: tenant B's turn latency alone, then
// while something else happens to tenant A, run after run (AB), and the two rows reporting it.
import { loadAvg, stats } from './lib.mjs';

/** Latency stats of `count` turns of `channel` (a 3-node WAT flow), one after another. */
export async function turnStats(converse, host, channel, tag, count) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const r = await converse(host.bus, channel, { user: `${tag}${i % 20}`, text: 'hello' }, 10_000);
    if (!r.ok) throw new Error(r.message);
    samples.push(performance.now() - t0);
  }
  return stats(samples);
}

/**
 * `runs` runs of: B's turns alone, then B's turns while `disturb` runs (it is given a function
 * telling it whether to go on, and its promise is awaited before the next run). A warm-up first.
 */
export async function aloneThenBeside({ converse, host, channel, turns, runs, disturb }) {
  await turnStats(converse, host, channel, 'warm', turns);
  const load0 = loadAvg();
  const results = [];
  for (let r = 0; r < runs; r++) {
    const alone = await turnStats(converse, host, channel, `a${r}-`, turns);
    let going = true;
    const disturbing = disturb(() => going);
    const shared = await turnStats(converse, host, channel, `b${r}-`, turns);
    going = false;
    await disturbing;
    results.push({ alone, shared });
  }
  return { results, load: () => `${load0} → ${loadAvg()}` };
}

/** The p50 (median of runs) and p99 (worst run, target 1.5x) rows of B beside `what`. */
export function besideRows(bench, results, load, what) {
  const ratios = results.map((r) => (r.shared.p99 / r.alone.p99).toFixed(2)).join(', ');
  const worst = results.reduce((w, r) => (r.shared.p99 / r.alone.p99 > w.shared.p99 / w.alone.p99 ? r : w));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return [
    {
      bench,
      measure: `B's turn p50 while ${what.p50}, median of ${results.length} runs`,
      ours: median(results.map((r) => r.shared.p50)),
      baseline: median(results.map((r) => r.alone.p50)),
      baselineLabel: 'B alone (each run)',
      unit: 'ms',
      load,
    },
    {
      bench,
      measure: `B's turn p99 while ${what.p99}, worst of ${results.length} runs (each run's ratio: ${ratios})`,
      ours: worst.shared.p99,
      baseline: worst.alone.p99,
      baselineLabel: 'B alone (same run)',
      ratioTarget: 1.5,
      unit: 'ms',
      load,
    },
  ];
}
