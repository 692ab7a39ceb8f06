// In-thread glue: the host's own binding of the node world (the lean canonical-ABI glue the
// workers use) against plain jco 1.35's generated glue, same component, same thread, same
// plain JS capability function, no tenancy on either side.
import { CALLS, CTX, dist, fixture, INPUT, plainInstance, plainJco, stats, timeCalls } from './lib.mjs';

async function lean(wasm) {
  const { ComponentRegistry } = await dist('components/registry.js');
  const { LeanNode, leanMainModule } = await dist('sandbox/node-abi.js');
  const { ValueBudget } = await dist('sandbox/value-budget.js');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const registry = new ComponentRegistry(mkdtempSync(join(tmpdir(), 'bench-glue-')));
  const compiled = await registry.compile(await registry.loadFile(wasm), 64);
  const state = new Map([['k', 'v']]);
  const host = { stateGet: (_ctx, k) => state.get(k) };
  // Every lifted string is charged to a call's budget, as in the workers.
  const budget = new ValueBudget('bench', Infinity, Infinity);
  return LeanNode.instantiate(compiled.modules.get(leanMainModule(compiled.modules)), () => host, () => budget);
}

export async function run() {
  const rows = [];
  for (const [label, name, n] of [
    ['in-thread glue (WAT)', 'bench-wat', CALLS * 5],
    ['in-thread glue (JS)', 'bench-js', CALLS],
  ]) {
    const wasm = fixture(name);
    const plain = await plainInstance(await plainJco(wasm));
    const ours = await lean(wasm);
    // Interleave the two so that machine noise hits both alike.
    const a = [];
    const b = [];
    for (let round = 0; round < 4; round++) {
      a.push(...(await timeCalls(() => ours.invoke(CTX, INPUT), n / 4)));
      b.push(...(await timeCalls(() => plain.invoke(CTX, INPUT), n / 4)));
    }
    const sa = stats(a);
    const sb = stats(b);
    rows.push({
      bench: label,
      measure: `node call with one capability call, p50 (${n} calls)`,
      ours: sa.p50,
      baseline: sb.p50,
      baselineLabel: 'plain jco 1.35 glue',
      ratioTarget: name === 'bench-wat' ? 0.5 : undefined,
      unit: 'ms',
    });
  }
  return rows;
}
