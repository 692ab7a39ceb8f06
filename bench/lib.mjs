// Shared pieces of the benchmarks: timing statistics, the scope a guest call runs under,
// and the table every benchmark contributes rows to.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transpileBytes } from '@bytecodealliance/jco-transpile';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(ROOT, 'dist');
export const dist = (p) => import(join(DIST, p));
export const fixture = (name) => join(ROOT, 'build', 'fixtures', name, `${name}.wasm`);

/** How long the long-running benchmarks run; BENCH_SECONDS shortens them for a quick look. */
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
/** Iterations of the per-call benchmarks. */
export const CALLS = Number(process.env.BENCH_CALLS ?? 10_000);

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

/** p50 and p99 of samples in ms. */
export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99), n: s.length };
}

/** Time `fn` `n` times (after `warm` unmeasured runs); returns per-call ms samples. */
export async function timeCalls(fn, n = CALLS, warm = Math.min(1000, n / 10)) {
  for (let i = 0; i < warm; i++) await fn(i);
  const samples = new Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    samples[i] = performance.now() - t0;
  }
  return samples;
}

/** Format ms for the table: µs below 1 ms. */
export function ms(v) {
  if (!Number.isFinite(v)) return 'n/a';
  if (v < 1) return `${(v * 1000).toFixed(1)} µs`;
  if (v < 1000) return `${v.toFixed(2)} ms`;
  return `${(v / 1000).toFixed(2)} s`;
}

export function pkgVersion(name) {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (;;) {
      try {
        return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
      } catch {
        const up = dirname(dir);
        if (up === dir) return 'unknown';
        dir = up;
      }
    }
  } catch {
    return 'unknown';
  }
}

/** A logger that drops everything below error (benchmarks measure the host, not its logging). */
export async function quietLogger() {
  const { createLogger } = await dist('observability/logger.js');
  return createLogger({ level: 'error' });
}

/** A scope bound to tenant/env/team/session, with state read access: what the executor builds per node. */
export async function benchScope({ tenant = 'acme', session = 's1', state = { k: 'v' }, logger, component = 'bench' } = {}) {
  const { InvocationScope } = await dist('capabilities/scope.js');
  const { HostMetrics } = await dist('observability/metrics.js');
  const { sessionKey } = await dist('stores/keys.js');
  const { DEFAULT_LIMITS } = await dist('tenancy/model.js');
  const key = sessionKey({ tenant, env: 'prod', team: 'support' }, session);
  const metrics = new HostMetrics();
  const secrets = { get: async () => null, set: async () => {}, delete: async () => false, list: async () => [] };
  // As in a tenant runtime: one permissions object per (env, component), reused by every call.
  const permissions = {
    component,
    state: 'read',
    messaging: false,
    log: false,
    secrets: new Set(),
    globalSecrets: new Set(),
    wasi: new Set(),
    limits: DEFAULT_LIMITS,
  };
  const make = () =>
    new InvocationScope({
      ctx: { tenantId: tenant, envId: 'prod', teamId: 'support', sessionId: session, userId: 'u1', traceId: '0'.repeat(32) },
      session: key,
      channel: 'slack',
      teamChannels: new Set(['slack']),
      permissions,
      flow: 'bench',
      node: 'n1',
      turn: { working: new Map(Object.entries(state)), outbox: [] },
      services: { secrets, logger, metrics },
    });
  return { make, metrics };
}

/** The node input a benchmark call passes. */
export const INPUT = { nodeId: 'n1', message: { text: 'hello', userId: 'u1', channel: 'slack' }, config: '{}', resumed: false };

export const CTX = { tenantId: 'acme', envId: 'prod', teamId: 'support', sessionId: 's1', userId: 'u1', traceId: '0'.repeat(32) };

/** The component transpiled by plain jco (no changes), written to a temp dir. */
export async function plainJco(wasmPath) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-jco-'));
  const out = await transpileBytes(readFileSync(wasmPath), { name: 'component', instantiation: 'async' });
  for (const [f, b] of Object.entries(out.files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), b);
  }
  const modules = {};
  for (const f of Object.keys(out.files).filter((f) => f.endsWith('.wasm'))) modules[f] = await WebAssembly.compile(readFileSync(join(dir, f)));
  return { glueUrl: pathToFileURL(join(dir, 'component.js')).href, modules };
}

/** A plain jco instance in this thread with plain JS imports (no tenancy); returns its node export. */
export async function plainInstance(plain) {
  const { instantiate } = await import(plain.glueUrl);
  const state = new Map([['k', 'v']]);
  const slice = { get: (_ctx, k) => state.get(k), set() {}, delete: () => false, listKeys: () => [] };
  const noop = { get: () => '', send() {}, write() {} };
  const imports = { 'greentic:host/state': slice, 'greentic:host/secrets': noop, 'greentic:host/messaging': noop, 'greentic:host/log': noop };
  const exports = await instantiate((name) => plain.modules[name], imports);
  return exports['greentic:host/node@0.1.0'] ?? exports.node;
}
