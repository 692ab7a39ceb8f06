import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ComponentRegistry, type CompiledComponent } from '../../dist/components/registry.js';
import { DEFAULT_CACHE_DIR } from '../../dist/paths.js';
import type { NodeError } from '../../dist/sandbox/errors.js';
import { WorkerPool } from '../../dist/sandbox/pool.js';
import { DEFAULT_LIMITS, DEFAULT_MODULE_LIMITS } from '../../dist/tenancy/model.js';
import { fixtureWasm, ROOT } from '../support/bundle.js';
import { memoryLogger } from '../support/logs.js';
import { permissions, testScope } from '../support/scope.js';
import { eventually } from '../support/serve-process.js';

/**
 * The process tier as an attacker meets it: acme's guests run in sandbox processes
 * (`settings.isolation: process`), bigcorp's in the host's worker threads. Whatever kills an
 * acme sandbox process (a real V8 fatal out-of-memory error driven by the guest, SIGKILL,
 * SIGABRT) fails only the acme call it held; bigcorp is served all along, and acme's next call
 * runs in a fresh process.
 */

const HOST_SCRIPT = join(ROOT, 'test', 'support', 'process-tier-host.mjs');
const input = (text: string) => ({ nodeId: 'n', message: { text, userId: 'u1', channel: 'slack' }, config: '{}', resumed: false });
const longDeadline = permissions({ limits: { ...DEFAULT_LIMITS, deadlineMs: 60_000 } });
const acme = () => testScope({ perms: longDeadline }).scope;
const bigcorp = () => testScope({ ctx: { tenantId: 'bigcorp', teamId: 'helpdesk' } }).scope;

let faults: CompiledComponent;
/**
 * hog-run with tables allowed 10 million elements and an engine-heap estimate of 4 GiB per
 * instance: limits no config can give (settings.limits.module.heap_mib is at most 64, so such a
 * module is refused at load), set here so that its `t` (grow a funcref table until refused)
 * really drives V8 to its heap limit and its fatal out-of-memory abort.
 */
let tableBomb: CompiledComponent;
beforeAll(async () => {
  const registry = new ComponentRegistry(DEFAULT_CACHE_DIR);
  faults = await registry.compile(await registry.loadFile(fixtureWasm('faults')), 16);
  tableBomb = await registry.compile(await registry.loadFile(fixtureWasm('hog-run')), 64, undefined, {
    limits: { ...DEFAULT_MODULE_LIMITS, tableElements: 10_000_000, heapMib: 4096 },
  });
});

const pools: WorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

async function tiers(): Promise<{ pool: WorkerPool; logs: ReturnType<typeof memoryLogger>; crashes: Array<[string | undefined, string]> }> {
  const logs = memoryLogger();
  const crashes: Array<[string | undefined, string]> = [];
  const pool = new WorkerPool({
    logger: logs.logger,
    size: 1,
    sandbox: (t) => (t === 'acme' ? { isolation: 'process', heapMib: 128, workers: 1 } : { isolation: 'thread', heapMib: 128, workers: 1 }),
    onWorkerExit: (t, tier) => crashes.push([t, tier]),
  });
  pools.push(pool);
  await pool.start();
  return { pool, logs, crashes };
}

/** bigcorp's calls, one after another, until `stop` settles; every one must succeed. */
async function calmTenant(pool: WorkerPool, stop: Promise<unknown>): Promise<{ served: number; failed: unknown[] }> {
  let done = false;
  void stop.finally(() => (done = true));
  const failed: unknown[] = [];
  let served = 0;
  while (!done) {
    try {
      expect(await pool.invoke({ component: faults, scope: bigcorp(), input: input('x') })).toEqual({ replies: ['ok'], next: { tag: 'end' } });
      served++;
    } catch (e) {
      failed.push(e);
    }
  }
  return { served, failed };
}

const ok = { replies: ['ok'], next: { tag: 'end' } };

describe('a sandbox process that dies fails only the call it held', () => {
  it('a guest that drives V8 to a fatal out-of-memory abort: its call fails as a crash, the calm tenant is served throughout, the next call gets a fresh process', async () => {
    const { pool, logs, crashes } = await tiers();
    expect(await pool.invoke({ component: faults, scope: acme(), input: input('x') })).toEqual(ok);
    const [first] = pool.sandboxPids('acme');
    const bomb = pool.invoke({ component: tableBomb, scope: acme(), input: input('t') });
    const calm = calmTenant(
      pool,
      bomb.catch(() => undefined),
    );
    const err = (await bomb.catch((e: NodeError) => e)) as NodeError;
    expect({ code: err.code, message: err.message, retryable: err.retryable }).toEqual({
      code: 'worker-crashed',
      message: 'the sandbox process running this call died (signal SIGABRT)',
      retryable: true,
    });
    const { served, failed } = await calm;
    expect(failed).toEqual([]);
    expect(served).toBeGreaterThan(0);
    expect(crashes).toEqual([['acme', 'process']]);
    const exit = logs.lines.find((l) => l.event === 'sandbox-process-exit')!;
    expect(exit).toMatchObject({ tenant_id: 'acme', how: 'signal SIGABRT' });
    expect(exit.stderr_tail).toContain('JavaScript heap out of memory');
    expect((exit.stderr_tail as string).length).toBeLessThanOrEqual(2048);
    // The spare took over at once; the next call runs in a process that is not the dead one.
    expect(await pool.invoke({ component: faults, scope: acme(), input: input('x') })).toEqual(ok);
    expect(pool.sandboxPids('acme')).not.toContain(first);
  });

  it.each(['SIGKILL', 'SIGABRT', 'SIGSEGV'] as const)(
    '%s of the process running a call: that call fails with the signal named, the calm tenant is served, the next call succeeds',
    async (signal) => {
      const { pool, crashes } = await tiers();
      expect(await pool.invoke({ component: faults, scope: acme(), input: input('x') })).toEqual(ok);
      const before = pool.sandboxPids('acme');
      const looping = pool.invoke({ component: faults, scope: acme(), input: input('l') });
      const calm = calmTenant(
        pool,
        looping.catch(() => undefined),
      );
      // The loop runs (its deadline is a minute away) in the worker process; the spare is killed too, so the restart backs off.
      await new Promise((r) => setTimeout(r, 200));
      for (const pid of before) process.kill(pid, signal);
      const err = (await looping.catch((e: NodeError) => e)) as NodeError;
      expect({ code: err.code, message: err.message }).toEqual({
        code: 'worker-crashed',
        message: `the sandbox process running this call died (signal ${signal})`,
      });
      expect((await calm).failed).toEqual([]);
      // Both deaths seen (a call handed to the killed spare before its exit is noticed would fail as well).
      await eventually(() => crashes.length === before.length, 'the death of every killed process');
      expect(crashes).toEqual(before.map(() => ['acme', 'process']));
      expect(pool.sandboxPids('acme').some((p) => before.includes(p))).toBe(false);
      expect(await pool.invoke({ component: faults, scope: acme(), input: input('x') })).toEqual(ok);
    },
  );

  it('a crash loop is restarted with a growing backoff and reported, never in a busy loop', async () => {
    const { pool, logs } = await tiers();
    expect(await pool.invoke({ component: faults, scope: acme(), input: input('x') })).toEqual(ok);
    const killed = new Set<number>();
    for (let i = 0; i < 5; i++) {
      await eventually(() => pool.sandboxPids('acme').some((p) => !killed.has(p)), `a new sandbox process (${i})`);
      for (const pid of pool.sandboxPids('acme')) {
        if (killed.has(pid)) continue;
        killed.add(pid);
        process.kill(pid, 'SIGKILL');
      }
    }
    await eventually(() => logs.lines.filter((l) => l.event === 'sandbox-crash-loop').length >= 2, 'two crash-loop reports');
    const delays = logs.lines.filter((l) => l.event === 'sandbox-crash-loop').map((l) => l.delay_ms as number);
    // 100 ms after the first crash in a row, doubling with each one: reported from the third on.
    for (const d of delays) expect([400, 800, 1600, 3200, 6400]).toContain(d);
    expect([...delays].sort((a, b) => a - b)).toEqual(delays);
    expect(logs.lines.find((l) => l.event === 'sandbox-crash-loop')).toMatchObject({
      level: 40,
      tenant_id: 'acme',
      msg: 'sandbox processes keep dying; the next one starts after a backoff',
    });
    // It comes back: once every killed process's death is seen, a call waits for the next process and is served.
    await eventually(() => pool.sandboxPids('acme').every((p) => !killed.has(p)), 'the death of every killed process');
    expect(await pool.invoke({ component: faults, scope: acme(), input: input('x') })).toEqual(ok);
  });
});

describe('what a sandbox process is given', () => {
  it('no environment beyond its IPC channel (no secret of the host), no inherited exec arguments, a small relay heap; it ends with the pool', async () => {
    process.env.GREENTIC_MASTER_KEY_PROBE = 'must-not-reach-a-sandbox';
    try {
      const { pool } = await tiers();
      expect(await pool.invoke({ component: faults, scope: acme(), input: input('x') })).toEqual(ok);
      const pids = pool.sandboxPids('acme');
      expect(pids).toHaveLength(2); // the worker and its spare
      for (const pid of pids) {
        // Only what Node itself sets up for the IPC channel.
        const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
        expect(env.map((e) => e.slice(0, e.indexOf('=')))).toEqual(['NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE']);
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        expect(argv.slice(1)).toEqual(['--max-old-space-size=64', expect.stringMatching(/\/dist\/sandbox\/process-child\.js$/)]);
        expect(readlinkSync(`/proc/${pid}/cwd`)).toBe('/');
      }
      await pool.close();
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrowError(/ESRCH/);
    } finally {
      delete process.env.GREENTIC_MASTER_KEY_PROBE;
    }
  });

  it('ends when its host dies without closing it (kill -9 of the host): no orphan keeps running', async () => {
    const host = spawn(process.execPath, [HOST_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    host.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('\n'), 'the host to serve its first sandboxed call');
    const { out: answer, pids } = JSON.parse(out) as { out: unknown; pids: number[] };
    expect(answer).toEqual(ok);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('process-child.js');
    host.kill('SIGKILL');
    for (const pid of pids) await eventually(() => !existsSync(`/proc/${pid}`), `sandbox process ${pid} to end after its host`);
  });

  it('the thread tier is untouched: a tenant without the setting runs in the host process', async () => {
    const { pool } = await tiers();
    expect(await pool.invoke({ component: faults, scope: bigcorp(), input: input('x') })).toEqual(ok);
    expect(pool.sandboxPids('bigcorp')).toEqual([]);
  });
});
