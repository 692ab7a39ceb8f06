// Cold start: the first message to a tenant, for a WAT and a JS component, when the
// component's transpiled glue is on the disk cache and when it must be transpiled. Each start
// is a process of its own, as a restarted host is: nothing compiled in an earlier start is
// reused but what is on disk. "first message" is timed from a ready host (its workers started,
// its tenants loaded, their components' spare instances made) to the reply; "start + first
// message" adds the host's start-up (loading, transpiling, compiling). Medians of RUNS starts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchBundle } from './bundle.mjs';
import { stats } from './lib.mjs';

const RUNS = Number(process.env.BENCH_STARTS ?? 5);

function start(bundle, cache) {
  const out = execFileSync(process.execPath, [new URL('./cold-start-child.mjs', import.meta.url).pathname, bundle, cache], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out);
}

export async function run() {
  const rows = [];
  for (const [label, component, nodes, target] of [
    ['cold start (WAT)', 'bench-wat', 3, undefined],
    ['cold start (JS)', 'bench-js', 1, 30],
  ]) {
    const bundle = benchBundle({ tenants: 1, component, nodes });
    const cold = [];
    const warm = [];
    const cache = mkdtempSync(join(tmpdir(), 'bench-cache-'));
    for (let i = 0; i < RUNS; i++) {
      // An empty cache: the glue is transpiled at start.
      cold.push(start(bundle, i === 0 ? cache : mkdtempSync(join(tmpdir(), 'bench-cache-'))));
      // The cache the first cold start filled.
      warm.push(start(bundle, cache));
    }
    rows.push(
      {
        bench: label,
        measure: `first message to a ready host, glue on the disk cache (median of ${RUNS} processes)`,
        ours: stats(warm.map((r) => r.first)).p50,
        baseline: stats(cold.map((r) => r.first)).p50,
        baselineLabel: 'the same, glue transpiled at start',
        target,
        unit: 'ms',
      },
      {
        bench: label,
        measure: 'host start + first message, glue on the disk cache',
        ours: stats(warm.map((r) => r.total)).p50,
        baseline: stats(cold.map((r) => r.total)).p50,
        baselineLabel: 'the same, glue transpiled at start',
        unit: 'ms',
      },
    );
  }
  return rows;
}
