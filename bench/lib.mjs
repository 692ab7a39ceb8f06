// Shared pieces of the benchmarks: timing statistics, the scope a guest call runs under,
// and the table every benchmark contributes rows to.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
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
export async function benchScope({ tenant = 'acme', session = 's1', state = { k: 'v' }, logger, component = 'bench', secret = false } = {}) {
  const { InvocationScope } = await dist('capabilities/scope.js');
  const { HostMetrics } = await dist('observability/metrics.js');
  const { sessionKey } = await dist('stores/keys.js');
  const { DEFAULT_LIMITS } = await dist('tenancy/model.js');
  const key = sessionKey({ tenant, env: 'prod', team: 'support' }, session);
  const metrics = new HostMetrics();
  // With `secret`, the tenant's store holds secret "k" and the component is granted it.
  const secrets = { get: async (ns) => (secret && ns.kind === 'team' ? 'v' : null), set: async () => {}, delete: async () => false, list: async () => [] };
  // As in a tenant runtime: one permissions object per (env, component), reused by every call.
  const permissions = {
    component,
    state: 'read',
    messaging: false,
    log: false,
    secrets: new Set(secret ? ['k'] : []),
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
  const noop = { get: () => 'v', send() {}, write() {} };
  const imports = { 'greentic:host/state': slice, 'greentic:host/secrets': noop, 'greentic:host/messaging': noop, 'greentic:host/log': noop };
  const exports = await instantiate((name) => plain.modules[name], imports);
  return exports['greentic:host/node@0.1.0'] ?? exports.node;
}

/** The machine's 1-minute load average, for the before/after column of every row. */
export function loadAvg() {
  return loadavg()[0].toFixed(2);
}

/**
 * Run each contender of `contenders` (name -> async (n) => samples[]) in ROUNDS interleaved
 * rounds (ABAB...), each round `n / ROUNDS` iterations, so that machine noise hits all alike;
 * returns name -> all samples.
 */
export async function interleaved(contenders, n, rounds = 4) {
  const out = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) for (const [k, fn] of Object.entries(contenders)) out[k].push(...(await fn(Math.ceil(n / rounds))));
  return out;
}

/**
 * The floor of a guest call: the component's main core module instantiated by hand with a
 * plain function for its one import, its invoke export called directly on parameters written
 * into its memory once (what V8 costs, with no glue at all).
 */
export async function rawExport(wasmPath, importModule) {
  const { ComponentRegistry } = await dist('components/registry.js');
  const { leanMainModule } = await dist('sandbox/node-abi.js');
  const registry = new ComponentRegistry(mkdtempSync(join(tmpdir(), 'bench-raw-')));
  const compiled = await registry.compile(await registry.loadFile(wasmPath), 64);
  const main = compiled.modules.get(leanMainModule(compiled.modules));
  let mem;
  // The import writes ok("v") at its return pointer: the least a host function can do.
  const get = (...a) => {
    const dv = new DataView(mem.buffer);
    const ret = a[15];
    dv.setUint8(ret, 0);
    dv.setUint8(ret + 4, 1);
    dv.setUint32(ret + 8, 264, true);
    dv.setUint32(ret + 12, 1, true);
  };
  const inst = await WebAssembly.instantiate(main, { [importModule]: { get } });
  mem = inst.exports.memory;
  const invoke = inst.exports['greentic:host/node@0.1.0#invoke'];
  const post = inst.exports['cabi_post_greentic:host/node@0.1.0#invoke'];
  // The params area: a ctx of short strings and an invocation, at 1024 (strings at 2048).
  const u8 = new Uint8Array(mem.buffer);
  const dv = new DataView(mem.buffer);
  const strings = ['acme', 'prod', 'support', 's1', 'u1', 't'.repeat(32), 'n1', 'hello', 'u1', 'slack', '{}'];
  let at = 2048;
  const put = (field, s) => {
    u8.set(new TextEncoder().encode(s), at);
    dv.setUint32(1024 + field, at, true);
    dv.setUint32(1024 + field + 4, s.length, true);
    at += s.length;
  };
  put(0, strings[0]);
  put(8, strings[1]);
  dv.setUint8(1024 + 16, 1);
  put(20, strings[2]);
  for (const [i, off] of [28, 36, 44, 52, 60, 68, 76, 84].entries()) put(off, strings[3 + i]);
  return () => {
    post(invoke(1024));
  };
}

/** Extism's JS SDK running the peer plugin (bench/fixtures/extism-plugin.wat): one host function call per `run`. */
export async function extismPlugin(runInWorker) {
  const { createPlugin } = await import('@extism/extism');
  const jco = await import('@bytecodealliance/jco');
  const wasm = await jco.parse(readFileSync(join(ROOT, 'bench', 'fixtures', 'extism-plugin.wat'), 'utf8'));
  const plugin = await createPlugin(
    { wasm: [{ data: wasm }] },
    { useWasi: false, runInWorker, functions: { 'extism:host/user': { get: (cc) => cc.store('v') } } },
  );
  return { call: () => plugin.call('run', 'k'), close: () => plugin.close() };
}
