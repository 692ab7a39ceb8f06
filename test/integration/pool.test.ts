import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComponentRegistry, type CompiledComponent } from '../../dist/components/registry.js';
import { DEFAULT_CACHE_DIR } from '../../dist/paths.js';
import { NodeError } from '../../dist/sandbox/errors.js';
import { WorkerPool } from '../../dist/sandbox/pool.js';
import { fixtureWasm } from '../support/bundle.js';
import { memoryLogger } from '../support/logs.js';
import { testScope } from '../support/scope.js';

let prober: CompiledComponent;
let faults: CompiledComponent;
beforeAll(async () => {
  const registry = new ComponentRegistry(DEFAULT_CACHE_DIR);
  prober = await registry.compile(await registry.loadFile(fixtureWasm('prober')), 64);
  faults = await registry.compile(await registry.loadFile(fixtureWasm('faults')), 16);
});

const input = (text: string) => ({ nodeId: 'n', message: { text, userId: 'u1', channel: 'slack' }, config: '{}', resumed: false });
const served = (out: unknown) => (out as { replies: string[] }).replies.at(-1);

describe('the worker pool', () => {
  const pools: WorkerPool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });
  async function pool(opts: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}): Promise<WorkerPool> {
    const p = new WorkerPool({ logger: memoryLogger().logger, size: 1, spare: false, ...opts });
    pools.push(p);
    await p.start();
    return p;
  }

  it('keeps an instance per (tenant, env, component) warm, and evicts the least recently used past the budget', async () => {
    const p = await pool({ maxInstancesPerWorker: 1 });
    const acme = testScope().scope;
    const bigcorp = testScope({ ctx: { tenantId: 'bigcorp', teamId: 'helpdesk' } }).scope;
    const call = (scope: typeof acme) => p.invoke({ component: prober, scope, input: input('{"counter":true}') }).then(served);
    expect(await call(acme)).toBe('served: 1');
    expect(await call(acme)).toBe('served: 2'); // warm: the same instance
    expect(await call(bigcorp)).toBe('served: 1'); // another tenant never shares acme's instance
    expect(await call(acme)).toBe('served: 1'); // acme's was evicted (budget: one instance)
  });

  it('drops a trapped instance; the next call gets a fresh one', async () => {
    const p = await pool();
    const scope = testScope().scope;
    expect(await p.invoke({ component: prober, scope, input: input('{"counter":true}') }).then(served)).toBe('served: 1');
    expect(await p.invoke({ component: prober, scope, input: input('{"counter":true}') }).then(served)).toBe('served: 2');
    await expect(p.invoke({ component: prober, scope, input: input('not json') })).rejects.toMatchObject({ code: 'trap' });
    expect(await p.invoke({ component: prober, scope, input: input('{"counter":true}') }).then(served)).toBe('served: 1');
  });

  it("refuses calls past a tenant's queue bound at once, and serves the rest", async () => {
    const p = await pool({ maxQueuedPerTenant: 2 });
    const scope = testScope({
      perms: { limits: { deadlineMs: 200, memoryMib: 16, maxSteps: 50, maxCapabilityCalls: 1000, maxStateValueBytes: 65536, maxOutputBytes: 1 << 20 } },
    }).scope;
    const calls = Array.from({ length: 5 }, () => p.invoke({ component: faults, scope, input: input('l') }).catch((e: NodeError) => e.code));
    // One runs, one waits in the worker's second slot (no other tenant waits), two wait in the
    // queue, the fifth is refused without waiting.
    expect(await calls[4]).toBe('limit-exceeded');
    expect(await Promise.all(calls.slice(0, 4))).toEqual(['deadline-exceeded', 'deadline-exceeded', 'deadline-exceeded', 'deadline-exceeded']);
  });

  it('serves a rate-limited tenant at its rate while others go first', async () => {
    const p = await pool({ tenantRate: (t) => (t === 'acme' ? 1 : undefined) });
    const acme = testScope().scope;
    const bigcorp = testScope({ ctx: { tenantId: 'bigcorp', teamId: 'helpdesk' } }).scope;
    const order: string[] = [];
    const acmeCalls = Array.from({ length: 3 }, (_, i) => p.invoke({ component: faults, scope: acme, input: input('x') }).then(() => order.push(`acme${i}`)));
    const bigcorpCall = p.invoke({ component: faults, scope: bigcorp, input: input('x') }).then(() => order.push('bigcorp'));
    await Promise.all([...acmeCalls, bigcorpCall]);
    // acme's burst (2) runs; its third call waits for a token while bigcorp is served.
    expect(order.indexOf('bigcorp')).toBeLessThan(order.indexOf('acme2'));
    expect(order).toHaveLength(4);
  });
});
