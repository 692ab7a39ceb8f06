// Cold start: the first message to a tenant, for a WAT and a JS component, when the
// component's transpiled glue is on the disk cache and when it must be transpiled. "first
// message" is timed from a ready host (its workers started, its tenants loaded) to the reply;
// "start + first message" adds the host's start-up (loading, transpiling, compiling).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchBundle, channelOf } from './bundle.mjs';
import { dist, quietLogger } from './lib.mjs';

async function firstMessage(bundleDir, cacheDir) {
  const { GreenticHost } = await dist('host.js');
  const { converse } = await dist('messaging/conversation.js');
  const logger = await quietLogger();
  const t0 = performance.now();
  const host = await GreenticHost.start({ bundleDir, dataDir: mkdtempSync(join(tmpdir(), 'bench-data-')), cacheDir, logger, workers: 2 });
  const t1 = performance.now();
  const r = await converse(host.bus, channelOf('t0'), { user: 'first', text: 'hello' });
  const t2 = performance.now();
  if (!r.ok) throw new Error(r.message);
  await host.close();
  return { first: t2 - t1, total: t2 - t0 };
}

export async function run() {
  process.env.GREENTIC_MASTER_KEY ??= 'aa'.repeat(32);
  const rows = [];
  for (const [label, component, nodes, target] of [
    ['cold start (WAT)', 'bench-wat', 3, undefined],
    ['cold start (JS)', 'bench-js', 1, 30],
  ]) {
    const bundle = benchBundle({ tenants: 1, component, nodes });
    const cache = mkdtempSync(join(tmpdir(), 'bench-cache-'));
    const cold = await firstMessage(bundle, cache); // empty cache: transpiles
    const warm = await firstMessage(bundle, cache); // the same cache, now filled
    rows.push(
      {
        bench: label,
        measure: 'first message to a ready host, glue on the disk cache',
        ours: warm.first,
        baseline: cold.first,
        baselineLabel: 'the same, glue transpiled at start',
        target,
        unit: 'ms',
      },
      {
        bench: label,
        measure: 'host start + first message, glue on the disk cache',
        ours: warm.total,
        baseline: cold.total,
        baselineLabel: 'the same, glue transpiled at start',
        unit: 'ms',
      },
    );
  }
  return rows;
}
