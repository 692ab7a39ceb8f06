import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ComponentCatalog } from '../../dist/components/catalog.js';
import { ComponentRegistry } from '../../dist/components/registry.js';
import { loadTenantRuntimeSafely } from '../../dist/flow/runtime.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR } from '../../dist/paths.js';
import { Confinement, isInside } from '../../dist/tenancy/config/confinement.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { copyExamples, installTenantComponent, tempDir, writeFiles } from '../support/bundle.js';

const builtins = { sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR };
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** The examples with a private component of bigcorp's (its digest is what acme must never learn), and a spare outside folder. */
function victimBundle() {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  const digest = installTenantComponent(b.dir, 'bigcorp', 'prober', 'private');
  mkdirSync(join(b.dir, 'elsewhere'), { recursive: true });
  writeFileSync(join(b.dir, 'elsewhere', 'secret.txt'), 'outside');
  return { dir: b.dir, digest, acme: join(b.dir, 'tenants', 'acme'), victim: join(b.dir, 'tenants', 'bigcorp', 'components', 'private') };
}

/** acme's tenant.yaml: its environments, `grants` (the example's by default) and `extra` YAML lines. */
function acmeTenant(dir: string, extra: string, grants = '{ reply: {}, ask: {}, branch: { teams: [support] } }'): void {
  writeFileSync(join(dir, 'tenants/acme/tenant.yaml'), `tenant: acme\nenvironments: { prod: {}, staging: {} }\ngrants:\n  components: ${grants}\n${extra}\n`);
}

async function problemsOf(dir: string): Promise<string[]> {
  const ws = await loadWorkspace(dir);
  const catalog = await ComponentCatalog.load(builtins, ws);
  return [...ws.problems, ...catalog.problems].map(formatProblem);
}

const OUTSIDE = /leads outside tenant "acme"'s folder \(.*tenants\/acme\/\)$/;

describe("a tenant's config reaches only its own folder", () => {
  it.each([
    ['another tenant, by the bundle path', 'tenants/bigcorp/components/private'],
    ['another tenant, through ..', 'tenants/acme/../bigcorp/components/private'],
    ['another tenant, by an absolute path', '<victim>'],
    ['the bundle root', '.'],
    ['tenants/ itself', 'tenants'],
    ['a folder outside the bundle', '/etc'],
    ['a folder that does not exist, outside', 'tenants/bigcorp/components/nothing-here'],
    ['a link to another tenant', 'tenants/acme/vendor/to-bigcorp'],
    ['a chain of links ending at another tenant', 'tenants/acme/vendor/chain1'],
    ['a dangling link to outside', 'tenants/acme/vendor/dangling-out'],
    ['a link to a file outside, used as a folder', 'tenants/acme/vendor/file-out'],
  ])('components.<name>.path to %s is refused without a word about what is there', async (_what, path) => {
    const v = victimBundle();
    mkdirSync(join(v.acme, 'vendor'), { recursive: true });
    symlinkSync(v.victim, join(v.acme, 'vendor', 'to-bigcorp'));
    symlinkSync('chain2', join(v.acme, 'vendor', 'chain1'));
    symlinkSync('../../bigcorp/components/private', join(v.acme, 'vendor', 'chain2'));
    symlinkSync('/nonexistent/greentic/target', join(v.acme, 'vendor', 'dangling-out'));
    symlinkSync(join(v.dir, 'elsewhere', 'secret.txt'), join(v.acme, 'vendor', 'file-out'));
    const written = path.replace('<victim>', v.victim);
    acmeTenant(v.dir, `components:\n  lookup: { path: ${JSON.stringify(written)} }`);
    const problems = await problemsOf(v.dir);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`tenant.yaml: components.lookup.path: ${JSON.stringify(written)}: `);
    expect(problems[0]).toMatch(OUTSIDE);
    expect(problems.join('\n')).not.toContain(v.digest);
    expect(problems.join('\n')).not.toMatch(/not found|nonexistent|secret\.txt/);
  });

  it('a path inside its own folder, through a link that stays inside, loads; a dangling one inside is "not found"', async () => {
    const v = victimBundle();
    installTenantComponent(v.dir, 'acme', 'prober', 'mine');
    mkdirSync(join(v.acme, 'vendor'), { recursive: true });
    symlinkSync('../components/mine', join(v.acme, 'vendor', 'alias'));
    symlinkSync('../nothing', join(v.acme, 'vendor', 'dangling-in'));
    acmeTenant(v.dir, 'components:\n  other: { path: tenants/acme/vendor/dangling-in }');
    expect(await problemsOf(v.dir)).toEqual([expect.stringMatching(/components\.other\.path: "tenants\/acme\/vendor\/dangling-in": folder not found$/)]);
    const ok = victimBundle();
    installTenantComponent(ok.dir, 'acme', 'prober', 'mine');
    symlinkSync('mine', join(ok.acme, 'components', 'alias-dir'));
    const ws = await loadWorkspace(ok.dir);
    const catalog = await ComponentCatalog.load(builtins, ws);
    expect(catalog.problems.map(formatProblem)).toEqual([expect.stringMatching(/manifest\.yaml: name: says "mine" but the directory is alias-dir\/$/)]);
    expect(catalog.resolve('acme', 'mine')?.origin).toBe('tenant');
  });

  it('a component folder, manifest, .wasm, flow, team file or key file that is a link out is refused, and nothing of the target is read', async () => {
    const v = victimBundle();
    mkdirSync(join(v.acme, 'components'), { recursive: true });
    symlinkSync(v.victim, join(v.acme, 'components', 'private'));
    mkdirSync(join(v.acme, 'components', 'stolen'), { recursive: true });
    writeFileSync(join(v.acme, 'components', 'stolen', 'manifest.yaml'), `name: stolen\nversion: 1.0.0\nwasm: stolen.wasm\nsha256: ${v.digest}\n`);
    symlinkSync(join(v.victim, 'private.wasm'), join(v.acme, 'components', 'stolen', 'stolen.wasm'));
    mkdirSync(join(v.acme, 'components', 'copycat'), { recursive: true });
    symlinkSync(join(v.victim, 'manifest.yaml'), join(v.acme, 'components', 'copycat', 'manifest.yaml'));
    mkdirSync(join(v.acme, 'components', 'escape'), { recursive: true });
    writeFileSync(
      join(v.acme, 'components', 'escape', 'manifest.yaml'),
      `name: escape\nversion: 1.0.0\nwasm: ../../../bigcorp/components/private/private.wasm\nsha256: ${v.digest}\n`,
    );
    symlinkSync(join(v.dir, 'bundle.yaml'), join(v.acme, 'flows', 'evil.yaml'));
    symlinkSync(join(v.dir, 'bundle.yaml'), join(v.acme, 'teams', 'evil.yaml'));
    mkdirSync(join(v.acme, 'keys'));
    symlinkSync(join(v.dir, 'tenants/bigcorp/keys/api-ed25519.pub.pem'), join(v.acme, 'keys', 'pub.pem'));
    acmeTenant(v.dir, '', '{ reply: {}, ask: {}, branch: {}, stolen: {} }');
    writeFiles(v.dir, { 'tenants/acme/flows/theft.yaml': 'name: theft\nversion: "1"\nstart: a\nnodes: [{ id: a, type: stolen }]\n' });

    // Team and flow files are read before anything else: the team link makes acme unloadable, with one problem.
    const first = await problemsOf(v.dir);
    expect(first).toEqual([expect.stringMatching(/tenants\/acme\/teams\/evil\.yaml: leads outside tenant "acme"'s folder/)]);
    rmSync(join(v.acme, 'teams', 'evil.yaml'));
    writeFileSync(join(v.acme, 'teams', 'evil.yaml'), 'team: evil\nchannels: {}\n');
    const ws = await loadWorkspace(v.dir);
    const catalog = await ComponentCatalog.load(builtins, ws);
    const problems = catalog.problems.map(formatProblem);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/tenants\/acme\/components\/private: leads outside tenant "acme"'s folder/),
        expect.stringMatching(/tenants\/acme\/components\/copycat\/manifest\.yaml: leads outside tenant "acme"'s folder/),
        expect.stringMatching(/tenants\/acme\/components\/escape\/manifest\.yaml: wasm: must be a file inside the component directory$/),
      ]),
    );
    expect(catalog.resolve('acme', 'private')).toBeUndefined();
    const cache = tempDir('greentic-cache-');
    cleanups.push(cache.cleanup);
    const { runtime, problems: loadProblems } = await loadTenantRuntimeSafely(ws.tenants.get('acme')!, catalog, new ComponentRegistry(cache.dir));
    const all = [...problems, ...loadProblems.map(formatProblem)].join('\n');
    expect(all).toMatch(/flows\/evil\.yaml: leads outside tenant "acme"'s folder/);
    expect(all).toMatch(/stolen\/stolen\.wasm: leads outside tenant "acme"'s folder/);
    expect(runtime?.flows.has('theft')).toBe(false);
    expect(all).not.toContain('workspace: greentic-demo');
    expect(all.split(v.digest).length - 1).toBe(0);

    acmeTenant(v.dir, 'api:\n  keys: [{ alg: EdDSA, public_key_file: tenants/acme/keys/pub.pem }]');
    expect((await loadWorkspace(v.dir)).problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(/api\.keys\[0\]\.public_key_file: "tenants\/acme\/keys\/pub\.pem": leads outside tenant "acme"'s folder/),
    );
  });

  it("a tenant folder that is a link into another tenant's, or around every tenant, is refused; the tenants it points at load", async () => {
    const v = victimBundle();
    symlinkSync(v.acme, join(v.dir, 'tenants', 'twin'));
    symlinkSync('/', join(v.dir, 'tenants', 'everything'));
    const ws = await loadWorkspace(v.dir);
    expect(ws.problems.map(formatProblem).sort()).toEqual([
      expect.stringMatching(
        /tenants\/everything\/tenant\.yaml: tenants\/everything\/ is a link into \(or around\) tenants\/(acme|bigcorp|twin)\/; each tenant needs a folder of its own$/,
      ),
      expect.stringMatching(
        /tenants\/twin\/tenant\.yaml: tenants\/twin\/ is a link into \(or around\) tenants\/acme\/; each tenant needs a folder of its own$/,
      ),
    ]);
    expect([...ws.tenants.keys()].sort()).toEqual(['acme', 'bigcorp']);
  });

  it('a loop of links is refused after 40 hops', async () => {
    const v = victimBundle();
    symlinkSync('loop-b', join(v.acme, 'loop-a'));
    symlinkSync('loop-a', join(v.acme, 'loop-b'));
    const c = await Confinement.of([{ path: v.acme, label: 'acme' }]);
    expect(await c.resolve(join(v.acme, 'loop-a'))).toEqual({ ok: false, reason: 'link-loop', message: 'more than 40 symbolic links' });
  });

  it("the shared components folder the operator declares is reachable by every tenant's path, and nothing beside it", async () => {
    const v = victimBundle();
    installTenantComponent(v.dir, 'acme', 'prober', 'lookup');
    const { renameSync } = await import('node:fs');
    mkdirSync(join(v.dir, 'shared'));
    renameSync(join(v.acme, 'components', 'lookup'), join(v.dir, 'shared', 'lookup'));
    writeFileSync(
      join(v.dir, 'bundle.yaml'),
      readFileSync(join(v.dir, 'bundle.yaml'), 'utf8').replace('workspace: greentic-demo', 'workspace: greentic-demo\nshared_components: shared'),
    );
    acmeTenant(v.dir, 'components:\n  lookup: { path: shared/lookup }\n  stolen: { path: shared/../tenants/bigcorp/components/private }');
    const ws = await loadWorkspace(v.dir);
    expect(ws.problems.map(formatProblem)).toEqual([
      expect.stringMatching(
        /components\.stolen\.path: "shared\/\.\.\/tenants\/bigcorp\/components\/private": leads outside tenant "acme"'s folder \(.*\) or the shared components folder \(.*shared\/\)$/,
      ),
    ]);
    writeFileSync(
      join(v.dir, 'bundle.yaml'),
      readFileSync(join(v.dir, 'bundle.yaml'), 'utf8').replace('shared_components: shared', 'shared_components: tenants/bigcorp'),
    );
    await expect(loadWorkspace(v.dir)).rejects.toThrowError(
      /bundle\.yaml: shared_components: "tenants\/bigcorp": overlaps tenants\/; the shared components folder must be outside every tenant's folder$/,
    );
  });

  it('generated paths: whatever resolves is inside the tenant, and a refusal never depends on what is outside', async () => {
    const v = victimBundle();
    mkdirSync(join(v.acme, 'vendor', 'deep'), { recursive: true });
    symlinkSync(v.victim, join(v.acme, 'vendor', 'out'));
    symlinkSync('deep', join(v.acme, 'vendor', 'in'));
    symlinkSync('/nonexistent', join(v.acme, 'vendor', 'gone'));
    const c = await Confinement.of([{ path: v.acme, label: 'acme' }]);
    const segment = fc.constantFrom(
      '..',
      '.',
      'tenants',
      'acme',
      'bigcorp',
      'components',
      'private',
      'vendor',
      'deep',
      'in',
      'out',
      'gone',
      'x',
      'private.wasm',
      'manifest.yaml',
    );
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { maxLength: 7 }), fc.constantFrom(v.acme, v.dir, '/'), async (segs, from) => {
        const r = await c.resolve(join(from, ...segs));
        if (r.ok) expect(isInside(v.acme, r.real)).toBe(true);
        else expect(r.message).toMatch(/^(not found|leads outside acme)$/);
        expect(JSON.stringify(r)).not.toContain(v.digest);
      }),
      { numRuns: 400 },
    );
  });
});
