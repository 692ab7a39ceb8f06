import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BundleWatcher, type BundleChange } from '../../dist/tenancy/config/bundle-watcher.js';
import { configDigest, FileDigests, MAX_TENANT_DEPTH, MAX_TENANT_DIRS, walkTenantFolder } from '../../dist/tenancy/config/tenant-files.js';
import { tempDir } from '../support/bundle.js';
import { memoryLogger } from '../support/logs.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** A bundle with tenants/acme/{flows,teams} and, beside the bundle, a folder that is no tenant's. */
function layout() {
  const t = tempDir('greentic-watch-');
  cleanups.push(t.cleanup);
  const root = join(t.dir, 'bundle');
  const acme = join(root, 'tenants', 'acme');
  const outside = join(t.dir, 'outside');
  for (const d of [join(acme, 'flows'), join(acme, 'teams'), outside]) mkdirSync(d, { recursive: true });
  writeFileSync(join(root, 'bundle.yaml'), 'tenants: {}\n');
  writeFileSync(join(acme, 'tenant.yaml'), 'tenant: acme\n');
  writeFileSync(join(outside, 'secret.yaml'), 'not acme\n');
  return { root, acme, outside };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wait until `changes` has `n` entries (events arrive when the kernel sends them), then a little more to see nothing else comes. */
async function settled(changes: unknown[], n: number): Promise<void> {
  for (let waited = 0; changes.length < n && waited < 10_000; waited += 20) await sleep(20);
  await sleep(400);
}

describe("a tenant's folder, walked for the watcher and the version", () => {
  it('follows no link: a link is an entry of its own, and nothing outside is listed or watched', async () => {
    const { acme, outside } = layout();
    symlinkSync(outside, join(acme, 'flows', 'elsewhere'));
    symlinkSync(join(outside, 'secret.yaml'), join(acme, 'teams', 'stolen.yaml'));
    const walk = await walkTenantFolder(acme);
    expect(walk.dirs).toEqual([acme, join(acme, 'flows'), join(acme, 'teams')]);
    expect(walk.entries).toEqual([
      { kind: 'link', rel: 'flows/elsewhere', target: outside },
      { kind: 'link', rel: 'teams/stolen.yaml', target: join(outside, 'secret.yaml') },
      { kind: 'file', rel: 'tenant.yaml', real: join(acme, 'tenant.yaml'), identity: expect.any(String) },
    ]);
    expect(walk.truncated).toBe(false);
  });

  it('stops at its bounds on folders and depth, and says so', async () => {
    const { acme } = layout();
    for (let i = 0; i < MAX_TENANT_DIRS + 10; i++) mkdirSync(join(acme, 'flows', `d${i}`));
    const wide = await walkTenantFolder(acme);
    expect(wide.dirs).toHaveLength(MAX_TENANT_DIRS);
    expect(wide.truncated).toBe(true);
    const deep = layout();
    mkdirSync(join(deep.acme, ...Array.from({ length: MAX_TENANT_DEPTH + 3 }, (_, i) => `l${i}`)), { recursive: true });
    const walked = await walkTenantFolder(deep.acme);
    expect(walked.truncated).toBe(true);
    expect(Math.max(...walked.dirs.map((d) => d.slice(deep.acme.length).split('/').length - 1))).toBe(MAX_TENANT_DEPTH);
  });

  it('hashes to the same version for the same content, and to another for any change (a link retargeted too)', async () => {
    const { acme, outside } = layout();
    const digests = new FileDigests();
    const v1 = await configDigest(await walkTenantFolder(acme), 'entry', digests);
    expect(await configDigest(await walkTenantFolder(acme), 'entry', digests)).toBe(v1);
    expect(await configDigest(await walkTenantFolder(acme), 'other entry', digests)).not.toBe(v1);
    writeFileSync(join(acme, 'flows', 'f.yaml'), 'name: f\n');
    const v2 = await configDigest(await walkTenantFolder(acme), 'entry', digests);
    expect(v2).not.toBe(v1);
    symlinkSync(outside, join(acme, 'link'));
    const v3 = await configDigest(await walkTenantFolder(acme), 'entry', digests);
    expect(v3).not.toBe(v2);
  });
});

describe('the bundle watcher', () => {
  function watcher(root: string, opts: { maxDirs?: number } = {}) {
    const changes: BundleChange[] = [];
    const logs = memoryLogger('debug');
    const w = new BundleWatcher({ root, tenantsDir: join(root, 'tenants'), debounceMs: 150, ...opts, logger: logs.logger, onChange: (c) => changes.push(c) });
    cleanups.push(() => w.close());
    return { w, changes, logs };
  }

  it("reports a burst of writes in one tenant's folders as one change of that tenant", async () => {
    const { root, acme } = layout();
    const { w, changes } = watcher(root);
    w.setTenant('acme', (await walkTenantFolder(acme)).dirs);
    for (let i = 0; i < 20; i++) writeFileSync(join(acme, 'flows', `f${i}.yaml`), `name: f${i}\n`);
    await settled(changes, 1);
    expect(changes).toEqual([{ bundle: false, tenants: new Set(['acme']) }]);
  });

  it('sees bundle.yaml and tenants/, not other files of the bundle root, and nothing beyond a link', async () => {
    const { root, acme, outside } = layout();
    symlinkSync(outside, join(acme, 'flows', 'elsewhere'));
    const { w, changes } = watcher(root);
    w.setTenant('acme', (await walkTenantFolder(acme)).dirs);
    writeFileSync(join(root, 'README.md'), 'notes\n');
    writeFileSync(join(outside, 'secret.yaml'), 'changed\n');
    await settled(changes, 0);
    expect(changes).toEqual([]);
    writeFileSync(join(root, 'bundle.yaml'), 'tenants: { b: {} }\n');
    await settled(changes, 1);
    mkdirSync(join(root, 'tenants', 'newco'));
    await settled(changes, 2);
    expect(changes).toEqual([
      { bundle: true, tenants: new Set() },
      { bundle: true, tenants: new Set() },
    ]);
  });

  it('watches at most maxDirs folders, says which tenant is only partly watched, and lets them go', async () => {
    const { root, acme } = layout();
    const { w, logs } = watcher(root, { maxDirs: 3 });
    w.setTenant('acme', (await walkTenantFolder(acme)).dirs);
    expect(w.size).toBe(3);
    expect(w.limited('acme')).toBe(true);
    expect(logs.lines).toContainEqual(expect.objectContaining({ event: 'watch-limited', tenant_id: 'acme', max_dirs: 3 }));
    w.dropTenant('acme');
    expect(w.size).toBe(2);
    expect(w.limited('acme')).toBe(false);
  });
});
