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

/** A component.manifest.json for the greentic-js fixture, as Greentic's tooling would write it. */
export function greenticJsManifest(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    $schema: 'https://greentic-ai.github.io/greentic-component/schemas/v1/component.manifest.schema.json',
    id: 'ai.greentic.test.greentic-js',
    name: 'greentic-js',
    version: '0.1.0',
    world: 'greentic:component/component@0.6.0',
    describe_export: 'describe',
    supports: ['messaging'],
    profiles: { default: 'stateless', supported: ['stateless'] },
    capabilities: {
      wasi: { clocks: false, random: false, filesystem: { mode: 'none', mounts: [] } },
      host: { messaging: { inbound: true, outbound: true }, telemetry: { scope: 'node' }, secrets: { required: [] } },
    },
    config_schema: { type: 'object', properties: { prefix: { type: 'string' }, route: { type: 'string' } }, additionalProperties: false },
    operations: ['echo', 'route', 'ask', 'ctx'].map((name) => ({ name, input_schema: { type: 'object' }, output_schema: { type: 'object' } })),
    default_operation: 'echo',
    limits: { memory_mb: 64, wall_time_ms: 2000 },
    artifacts: { component_wasm: 'target/wasm32-wasip2/release/greentic_js.wasm' },
    hashes: { component_wasm: `blake3:${'0'.repeat(64)}` },
    ...over,
  };
}

/** What a tenant grants a Greentic component so its toolchain's WASI imports are served (inertly). */
export const GREENTIC_WASI_GRANT = { wasi: ['wasi:cli/*', 'wasi:io/*', 'wasi:filesystem/*'] };
