// Soak: a real `serve` process answering fresh webchat sessions across many tenants for a while,
// its RSS sampled all along; reports the RSS slope in MB/min (target < 1) and fails above it.
//
//   npm run soak                       10 minutes, 50 tenants, 16 conversations at once
//   npm run soak -- --minutes 2        the short variant
//   options: --minutes N --tenants N --concurrency N --target MB_PER_MIN
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchBundle } from './bundle.mjs';
import { ROOT } from './lib.mjs';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    tenants: { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '16' },
    target: { type: 'string', default: '1' },
  },
});
const minutes = Number(values.minutes);
const tenants = Number(values.tenants);
const concurrency = Number(values.concurrency);
const target = Number(values.target);
for (const [k, v] of Object.entries({ minutes, tenants, concurrency, target })) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k} must be a positive number`);
}

// Every request comes from 127.0.0.1: the webchat limits per client address are raised; a fresh
// session that says nothing more is idle after 60 s (the default keeps it live for 30 minutes,
// which at this rate would soon be more live sessions than a tenant may have).
const webchat = { rate_per_sec: 100_000, burst: 100_000, address_rate_per_sec: 100_000, address_burst: 100_000, session_idle_seconds: 60, max_live_sessions: 100_000 };
// Stored sessions end after 60 s idle too (settings.sessions.idle_ttl), swept by the host: with
// no expiry, what is stored (and the figures kept per stored session) grows for the whole run,
// up to max_stored_bytes, and no steady state is reached to measure a slope on.
const bundle = benchBundle({ tenants, component: 'bench-wat', nodes: 3, settings: { webchat, sessions: { idle_ttl: 60 } } });
const data = mkdtempSync(join(tmpdir(), 'greentic-soak-data-'));
// SOAK_NODE_ARGS (e.g. --trace-gc) and SOAK_STDERR (a file for serve's stderr) are for looking into a result.
const nodeArgs = (process.env.SOAK_NODE_ARGS ?? '').split(' ').filter(Boolean);
const serve = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'greentic-host.mjs'), 'serve', '--bundle', bundle, '--data', data, '--port', '0'], {
  env: { ...process.env, GREENTIC_LOG_LEVEL: 'warn', GREENTIC_MASTER_KEY: '5a'.repeat(32) },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let stderrBytes = 0;
serve.stderr.on('data', (d) => (stderrBytes += d.length));
if (process.env.SOAK_STDERR) {
  const out = (await import('node:fs')).createWriteStream(process.env.SOAK_STDERR);
  serve.stderr.pipe(out);
  serve.stdout.pipe(out);
}
const base = await new Promise((resolve, reject) => {
  let out = '';
  serve.stdout.on('data', (d) => {
    out += d;
    const m = /API (http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(out);
    if (m) resolve(m[1]);
  });
  serve.once('exit', (code) => reject(new Error(`serve exited (${code}) before it was ready:\n${out}`)));
});

const rssMb = () => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${serve.pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
};
const t0 = Date.now();
const end = t0 + minutes * 60_000;
const samples = [];
const sampler = setInterval(() => samples.push({ min: (Date.now() - t0) / 60_000, mb: rssMb() }), 2000);
samples.push({ min: 0, mb: rssMb() });

let ok = 0;
let failed = 0;
const failures = new Map();
let n = 0;
async function lane() {
  while (Date.now() < end) {
    const tenant = `t${n++ % tenants}`;
    try {
      // No cookie: every message starts a fresh session.
      const res = await fetch(`${base}/webchat/${tenant}/prod/t/c/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `hello ${n}` }),
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      if (res.status === 200) ok++;
      else {
        failed++;
        failures.set(res.status, (failures.get(res.status) ?? 0) + 1);
      }
    } catch (e) {
      failed++;
      failures.set(e.name, (failures.get(e.name) ?? 0) + 1);
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, lane));
clearInterval(sampler);
samples.push({ min: (Date.now() - t0) / 60_000, mb: rssMb() });
serve.kill('SIGTERM');
await new Promise((r) => serve.once('exit', r));
const sessionFiles = countSessions(data);
rmSync(data, { recursive: true, force: true });
rmSync(bundle, { recursive: true, force: true });

/** Least-squares slope of RSS over time, MB per minute. */
function slope(points) {
  const k = points.length;
  const mx = points.reduce((s, p) => s + p.min, 0) / k;
  const my = points.reduce((s, p) => s + p.mb, 0) / k;
  const num = points.reduce((s, p) => s + (p.min - mx) * (p.mb - my), 0);
  const den = points.reduce((s, p) => s + (p.min - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}
/** Session files under the data dir (sessions/{tenant}/{env}/{team}/*.cbor). */
function countSessions(dir) {
  let count = 0;
  const walk = (d, depth) => {
    let entries = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory() && !e.name.startsWith('.') && depth < 3) walk(join(d, e.name), depth + 1);
      else if (e.isFile() && e.name.endsWith('.cbor')) count++;
    }
  };
  walk(join(dir, 'sessions'), 0);
  return count;
}

// The first fifth (at least 30 s) is warm-up: caches and heaps filling to their bounds.
const warmMin = Math.max(0.5, minutes / 5);
const steady = samples.filter((s) => s.min >= warmMin);
// RSS follows V8's heap, which grows between major collections and shrinks at them (a sawtooth
// of tens of MB): the lowest RSS of each minute is a figure the phase of that sawtooth does not move.
const byMinute = new Map();
for (const p of steady) byMinute.set(Math.floor(p.min), [...(byMinute.get(Math.floor(p.min)) ?? []), p]);
const troughs = [...byMinute.values()].map((g) => g.reduce((a, b) => (b.mb < a.mb ? b : a)));
const result = {
  minutes,
  tenants,
  concurrency,
  turns_ok: ok,
  turns_failed: failed,
  failures: Object.fromEntries(failures),
  turns_per_s: Math.round(ok / ((Date.now() - t0) / 1000)),
  sessions_on_disk: sessionFiles,
  log_bytes: stderrBytes,
  rss_mb: { start: round(samples[0].mb), after_warmup: round(steady[0]?.mb ?? NaN), end: round(samples.at(-1).mb), max: round(Math.max(...samples.map((s) => s.mb))) },
  rss_slope_mb_per_min: { steady: round(slope(steady)), minute_troughs: troughs.length >= 3 ? round(slope(troughs)) : null, whole_run: round(slope(samples)) },
  // RSS at every half minute, to see the shape (a sawtooth of garbage collections, or a climb).
  rss_mb_every_30s: samples.filter((s, i) => i === 0 || Math.floor(s.min * 2) !== Math.floor(samples[i - 1].min * 2)).map((s) => Math.round(s.mb)),
  target_mb_per_min: target,
};
console.log(JSON.stringify(result, null, 2));
const pass = steady.length >= 3 && slope(steady) < target && failed === 0;
console.log(pass ? `soak: PASS (steady RSS slope ${round(slope(steady))} MB/min < ${target})` : `soak: FAIL (steady RSS slope ${round(slope(steady))} MB/min, target < ${target}; ${failed} failed turns)`);
process.exitCode = pass ? 0 : 1;

function round(v) {
  return Math.round(v * 100) / 100;
}
