import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RestartBackoff } from '../../dist/sandbox/restart-backoff.js';
import { tenantSandbox } from '../../dist/sandbox/pool.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { copyExamples, replaceExactly } from '../support/bundle.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** The example bundle with acme's tenant.yaml edited by `edit`. */
function acmeWith(edit: (yaml: string) => string): string {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  const file = join(b.dir, 'tenants', 'acme', 'tenant.yaml');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  return b.dir;
}

describe('settings.isolation', () => {
  it('is thread unless the tenant says process; its environments share it', async () => {
    const ws = await loadWorkspace(acmeWith((y) => replaceExactly(y, '    concurrency: 2\n', '    concurrency: 2\n    isolation: process\n')));
    expect(ws.problems).toEqual([]);
    const acme = ws.tenants.get('acme')!;
    expect(acme.settings.isolation).toBe('process');
    expect([...acme.envs.values()].map((e) => e.settings.isolation)).toEqual(['process', 'process']);
    expect(ws.tenants.get('bigcorp')!.settings.isolation).toBe('thread');
    // Two workers (its concurrency), each with 4 x limits.module.heap_mib of engine heap (at least 128 MiB).
    expect(tenantSandbox(acme.settings)).toEqual({ isolation: 'process', heapMib: 256, workers: 2 });
    expect(tenantSandbox(undefined)).toBeUndefined();
  });

  it.each(['processes', 'Process', 'none', '1'])('%s is refused with the values it may take, naming the file and path', async (value) => {
    const dir = acmeWith((y) => replaceExactly(y, '    concurrency: 2\n', `    concurrency: 2\n    isolation: "${value}"\n`));
    const ws = await loadWorkspace(dir);
    expect(ws.problems.map(formatProblem)).toEqual([
      `${join(dir, 'tenants', 'acme', 'tenant.yaml')}: tenant.settings.isolation: expected "thread" or "process"`,
    ]);
    expect(ws.tenants.has('acme')).toBe(false);
    expect(ws.tenants.has('bigcorp')).toBe(true);
  });

  it('is refused in an environment: it is a tenant-level setting', async () => {
    const dir = acmeWith((y) =>
      replaceExactly(
        y,
        '    settings:\n      limits:\n        deadline_ms: 2000\n',
        '    settings:\n      isolation: process\n      limits:\n        deadline_ms: 2000\n',
      ),
    );
    const ws = await loadWorkspace(dir);
    expect(ws.problems.map(formatProblem)).toEqual([
      `${join(dir, 'tenants', 'acme', 'tenant.yaml')}: environments[1].settings.isolation: isolation is a tenant-level setting: set it in the tenant's settings, not an environment's`,
    ]);
  });
});

describe('the crash backoff of sandbox processes', () => {
  it('waits 0 until a crash, then doubles from 100 ms to at most 30 s while crashes keep coming, and calms down after a quiet minute', () => {
    let now = 0;
    const b = new RestartBackoff(() => now);
    expect(b.delayMs()).toBe(0);
    const seen: Array<[number, boolean]> = [];
    for (let i = 0; i < 12; i++) {
      b.crashed();
      seen.push([b.delayMs(), b.looping()]);
      now += 1000;
    }
    expect(seen).toEqual([
      [100, false],
      [200, false],
      [400, true],
      [800, true],
      [1600, true],
      [3200, true],
      [6400, true],
      [12800, true],
      [25600, true],
      [30000, true],
      [30000, true],
      [30000, true],
    ]);
    now += 60_001;
    expect([b.delayMs(), b.looping()]).toEqual([0, false]);
    expect(b.crashed()).toBe(1);
    expect(b.delayMs()).toBe(100);
  });
});
