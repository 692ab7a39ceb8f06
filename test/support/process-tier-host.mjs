// A host process with one process-tier tenant, for tests that kill it: it serves one call in a
// sandbox process, prints the sandbox processes' ids as one JSON line, and then waits to be killed.
import { fileURLToPath } from 'node:url';

const dist = (p) => import(new URL(`../../dist/${p}`, import.meta.url).href);
const { ComponentRegistry } = await dist('components/registry.js');
const { DEFAULT_CACHE_DIR } = await dist('paths.js');
const { createLogger } = await dist('observability/logger.js');
const { WorkerPool } = await dist('sandbox/pool.js');
const { InvocationScope } = await dist('capabilities/scope.js');
const { HostMetrics } = await dist('observability/metrics.js');
const { sessionKey } = await dist('stores/keys.js');
const { DEFAULT_LIMITS } = await dist('tenancy/model.js');

const logger = createLogger({ level: 'error' });
const registry = new ComponentRegistry(DEFAULT_CACHE_DIR);
const faults = await registry.compile(await registry.loadFile(fileURLToPath(new URL('../../build/fixtures/faults/faults.wasm', import.meta.url))), 16);
const pool = new WorkerPool({ logger, size: 1, sandbox: () => ({ isolation: 'process', heapMib: 128, workers: 1 }) });
await pool.start();
const ctx = { tenantId: 'acme', envId: 'prod', teamId: 'support', sessionId: 's1', userId: 'u1', traceId: '0'.repeat(32) };
const scope = new InvocationScope({
  ctx,
  session: sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 's1'),
  channel: 'slack',
  teamChannels: new Set(['slack']),
  permissions: { component: 'faults', state: 'none', messaging: false, log: false, secrets: new Set(), globalSecrets: new Set(), wasi: new Set(), limits: DEFAULT_LIMITS },
  flow: 'f',
  node: 'n',
  turn: { working: new Map(), outbox: [] },
  services: { secrets: { get: async () => null, set: async () => {}, delete: async () => false, list: async () => [] }, logger, metrics: new HostMetrics() },
});
const out = await pool.invoke({ component: faults, scope, input: { nodeId: 'n', message: { text: 'x', userId: 'u1', channel: 'slack' }, config: '{}', resumed: false } });
console.log(JSON.stringify({ out, pids: pool.sandboxPids('acme') }));
setInterval(() => {}, 1 << 30);
