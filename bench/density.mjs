// Density: RSS of a host with 10,000 configured tenants (each with its own flow of 3 WAT
// nodes), idle and after 100 and 1,000 of them had a conversation. The baseline is the same
// host with one tenant.
import { execFileSync } from 'node:child_process';
import { benchBundle } from './bundle.mjs';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 10_000);

function measure(tenants, actives) {
  const bundle = benchBundle({ tenants });
  let out;
  try {
    out = execFileSync(process.execPath, ['--expose-gc', new URL('./density-child.mjs', import.meta.url).pathname, bundle, ...actives.map(String)], {
      maxBuffer: 1 << 20,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    // What the child said last (its error), not "Command failed" and its command line.
    const said = String(e.stderr ?? '').split('\n').filter((l) => /\S/.test(l) && !/^\s+at /.test(l));
    throw new Error(`the ${tenants}-tenant host failed: ${said.find((l) => /Error/.test(l)) ?? said.at(-1) ?? e.message}`);
  }
  return JSON.parse(out.toString());
}

export async function run() {
  const one = measure(1, []);
  const many = measure(
    TENANTS,
    [100, 1000].filter((a) => a <= TENANTS),
  );
  const rows = [
    {
      bench: 'density',
      measure: `RSS, ${many.tenants} tenants idle (start ${(many.startMs / 1000).toFixed(1)} s)`,
      ours: many.idleMb,
      baseline: one.idleMb,
      baselineLabel: '1 tenant idle',
      target: 1024,
      unit: 'MB',
    },
  ];
  for (const [a, mb] of Object.entries(many.active))
    rows.push({
      bench: 'density',
      measure: `RSS, ${many.tenants} tenants, ${a} active${many.failed ? ` (${many.failed} conversations failed)` : ''}`,
      ours: mb,
      baseline: one.idleMb,
      baselineLabel: '1 tenant idle',
      unit: 'MB',
    });
  return rows;
}
