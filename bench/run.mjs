#!/usr/bin/env node
// npm run bench [-- NAME...]: run the benchmarks (all, or those named), print one table, and
// write bench/RESULTS.md. Every row sets our figure beside a baseline measured in the same run.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { ms, pkgVersion, ROOT } from './lib.mjs';

const ALL = ['selftest', 'guest-call', 'glue', 'message', 'throughput', 'cold-start', 'density', 'noisy-neighbour', 'process-tier', 'reload'];
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
for (const c of chosen)
  if (!ALL.includes(c)) {
    console.error(`unknown benchmark ${JSON.stringify(c)}; choose from: ${ALL.join(', ')}`);
    process.exit(2);
  }

/** The commit measured, with "+changes" when the work tree differs from it. */
function commit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

const fmt = (row, v) => (row.unit === 'ms' ? ms(v) : row.unit === 'MB' ? `${v.toFixed(0)} MB` : row.unit === 'msg/s' ? `${Math.round(v)} msg/s` : `${v}`);
const rows = [];
for (const name of chosen) {
  process.stderr.write(`bench ${name} ...\n`);
  const t0 = performance.now();
  let produced;
  try {
    const mod = await import(`./${name}.mjs`);
    produced = await mod.run();
  } catch (e) {
    // One benchmark that fails is a failed row (its error, first line), not the end of the run.
    const reason = String(e instanceof Error ? e.message : e).split('\n')[0].slice(0, 200);
    produced = [{ bench: name, measure: `failed: ${reason}`, ours: 'failed', unit: 'text', expect: 'a result' }];
  }
  for (const row of produced) {
    rows.push(row);
    const ratio = row.baseline ? row.ours / row.baseline : undefined;
    process.stderr.write(
      `  ${row.bench} | ${row.measure}: ${fmt(row, row.ours)}${row.baseline !== undefined ? ` vs ${fmt(row, row.baseline)}${ratio !== undefined ? ` (${ratio.toFixed(2)}x)` : ''}` : ''}\n`,
    );
  }
  process.stderr.write(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}

const header = ['benchmark', 'measure', 'greentic-host', 'baseline', 'baseline is', 'ratio', 'target', 'met', 'load before → after'];
const table = rows.map((r) => {
  const ratio = r.baseline ? r.ours / r.baseline : undefined;
  let met = '';
  if (r.target !== undefined) met = (r.higherIsBetter ? r.ours >= r.target : r.ours <= r.target) ? 'yes' : 'NO';
  if (r.ratioTarget !== undefined && ratio !== undefined) met = (r.higherIsBetter ? ratio >= r.ratioTarget : ratio <= r.ratioTarget) ? 'yes' : 'NO';
  if (r.expect !== undefined) met = r.ours === r.expect ? 'yes' : 'NO';
  const target =
    r.expect !== undefined
      ? r.expect
      : r.target !== undefined
      ? `${r.higherIsBetter ? '>=' : '<='} ${fmt(r, r.target)}`
      : r.ratioTarget !== undefined
        ? `ratio ${r.higherIsBetter ? '>=' : '<='} ${r.ratioTarget}`
        : '';
  return [
    r.bench,
    r.measure,
    fmt(r, r.ours),
    r.baseline !== undefined ? fmt(r, r.baseline) : '',
    r.baselineLabel ?? '',
    ratio !== undefined ? `${ratio.toFixed(2)}x` : '',
    target,
    met,
    r.load ?? '',
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => String(r[i]).length)));
const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of table) console.log(line(r));

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
const versions = [
  '@bytecodealliance/jco',
  '@bytecodealliance/jco-transpile',
  '@bytecodealliance/componentize-js',
  '@bytecodealliance/preview2-shim',
  '@nats-io/transport-node',
]
  .map((p) => `${p} ${pkgVersion(p)}`)
  .join(', ');
const md = [
  '# Benchmark results',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${machine}`,
  `- node: ${process.version}`,
  `- commit: ${commit()}`,
  `- packages: ${versions}`,
  `- run: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`${process.env.BENCH_SECONDS ? ` with BENCH_SECONDS=${process.env.BENCH_SECONDS}` : ''}`,
  '',
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---').join('|')}|`,
  ...table.map((r) => `| ${r.join(' | ')} |`),
  '',
  'Ratios compare figures measured in the same process and run, interleaved (ABAB); "load" is the 1-minute load average before and after the row. See bench/README.md for what each row measures and what bounds the missed targets.',
  '',
].join('\n');
if (chosen.length === ALL.length || process.env.BENCH_WRITE) writeFileSync(join(ROOT, 'bench', 'RESULTS.md'), md);
else process.stderr.write('(partial run: bench/RESULTS.md not rewritten; set BENCH_WRITE=1 to force)\n');
