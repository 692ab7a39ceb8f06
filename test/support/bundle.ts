import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const EXAMPLES = join(ROOT, 'examples');
export const CLI = join(ROOT, 'bin', 'greentic-host.mjs');

/** A built fixture component: build/fixtures/<name>/<name>.wasm. */
export function fixtureWasm(name: string): string {
  return join(ROOT, 'build', 'fixtures', name, `${name}.wasm`);
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'greentic-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Copy the example bundle to a temporary directory, so a test can change it. */
export function copyExamples(): { dir: string; cleanup: () => void } {
  const t = tempDir('greentic-bundle-');
  cpSync(EXAMPLES, t.dir, { recursive: true });
  return t;
}

/** Write files (YAML for objects, text for strings) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string | object>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = join(dir, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, typeof content === 'string' ? content : stringify(content));
  }
}

/** Install a built fixture as a tenant's own component, pinned by digest. */
export function installTenantComponent(bundle: string, tenant: string, fixture: string, name = fixture, manifestExtra: Record<string, unknown> = {}): string {
  const bytes = readFileSync(fixtureWasm(fixture));
  const manifest = readFileSync(join(ROOT, 'build', 'fixtures', fixture, 'manifest.yaml'), 'utf8');
  const dir = join(bundle, 'tenants', tenant, 'components', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.wasm`), bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const lines = manifest
    .split('\n')
    .filter((l) => !/^(source|name|wasm|sha256):/.test(l))
    .join('\n');
  writeFileSync(
    join(dir, 'manifest.yaml'),
    `name: ${name}\nwasm: ${name}.wasm\nsha256: ${sha256}\n${lines}\n${Object.keys(manifestExtra).length ? stringify(manifestExtra) : ''}`,
  );
  return sha256;
}

/**
 * Install a built fixture as a tenant's own component the way a Greentic component ships:
 * its .wasm, Greentic's component.manifest.json (`manifest`) and the component.sha256 pin.
 */
export function installGreenticComponent(bundle: string, tenant: string, fixture: string, name: string, manifest: object): string {
  const bytes = readFileSync(fixtureWasm(fixture));
  const dir = join(bundle, 'tenants', tenant, 'components', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.wasm`), bytes);
  writeFileSync(join(dir, 'component.manifest.json'), JSON.stringify(manifest, null, 2));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(dir, 'component.sha256'), `${sha256}  ${name}.wasm\n`);
  return sha256;
}

/** test/fixtures/greentic-js/component.manifest.json (what Greentic's tooling would ship with it), with `over` on top. */
export function greenticJsManifest(over: Record<string, unknown> = {}): Record<string, unknown> {
  const file = join(ROOT, 'test', 'fixtures', 'greentic-js', 'component.manifest.json');
  return { ...(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>), ...over };
}

/** What a tenant grants a Greentic component so its toolchain's WASI imports are served (inertly). */
export const GREENTIC_WASI_GRANT = { wasi: ['wasi:cli/*', 'wasi:io/*', 'wasi:filesystem/*'] };

/** `text` with `from` replaced by `to`; throws when `from` is not in it (an edit of an example that no longer matches must fail, not do nothing). */
export function replaceExactly(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the text to edit has no ${JSON.stringify(from)} (has the example changed?)`);
  return text.replace(from, to);
}
