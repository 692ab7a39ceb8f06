// Bench bundles, generated into a temp directory: tenants whose flows run the bench guests.
import { createHash } from 'node:crypto';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from './lib.mjs';

/**
 * A component folder (manifest + pinned wasm) in a tenant's own components/ (a tenant's component
 * paths must stay inside its folder); the wasm is hard-linked, so fifty tenants of a 12 MB JS guest
 * cost one copy.
 */
function tenantComponent(root, tenant, name, extra = '') {
  const dir = join(root, 'tenants', tenant, 'components', name);
  mkdirSync(dir, { recursive: true });
  const shared = join(root, `${name}.wasm`);
  try {
    linkSync(shared, join(dir, `${name}.wasm`));
  } catch {
    copyFileSync(fixture(name), shared);
    linkSync(shared, join(dir, `${name}.wasm`));
  }
  const sha = createHash('sha256')
    .update(readFileSync(fixture(name)))
    .digest('hex');
  // The fixture's manifest without its build keys (and its limits, when the bench sets its own).
  let inLimits = false;
  const manifest = readFileSync(join(fixture(name), '..', 'manifest.yaml'), 'utf8')
    .split('\n')
    .filter((l) => {
      if (/^\S/.test(l)) inLimits = extra !== '' && l.startsWith('limits:');
      return !inLimits && !/^(source|name|wasm|sha256):/.test(l);
    })
    .join('\n');
  writeFileSync(join(dir, 'manifest.yaml'), `name: ${name}\nwasm: ${name}.wasm\nsha256: "${sha}"\n${manifest}\n${extra}`);
}

/**
 * A bundle with `tenants` tenants named t0..tN (or the given names), each with team "t" and
 * webchat channel "c" running a flow of `nodes` nodes of component `component`.
 */
export function benchBundle({ tenants = 1, names, component = 'bench-wat', nodes = 3, extraTenants = [], settings = {} } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'greentic-bench-'));
  const all = [...(names ?? Array.from({ length: tenants }, (_, i) => `t${i}`)).map((id) => ({ id, component, nodes })), ...extraTenants];
  // Each tenant in its own tenants/<id>/tenant.yaml (the tenant form): 10,000 tenants inline would
  // pass bundle.yaml's size limit (1 MiB), and an operator with that many would not keep one file.
  writeFileSync(join(root, 'bundle.yaml'), 'workspace: bench\n');
  for (const t of all) {
    mkdirSync(join(root, 'tenants', t.id), { recursive: true });
    writeFileSync(
      join(root, 'tenants', t.id, 'tenant.yaml'),
      [
        `tenant: ${t.id}`,
        'environments: { prod: {} }',
        `settings: ${JSON.stringify(settings)}`,
        `grants: { components: { ${t.component}: {} } }`,
        'teams: { t: { channels: { c: { provider: webchat, flow: f } } } }',
        '',
      ].join('\n'),
    );
    tenantComponent(root, t.id, t.component, t.component === 'faults' ? 'limits: { deadline_ms: 300, memory_mib: 16 }\n' : '');
    const flowDir = join(root, 'tenants', t.id, 'flows');
    mkdirSync(flowDir, { recursive: true });
    const ids = Array.from({ length: t.nodes }, (_, i) => `n${i + 1}`);
    const nodeLines = ids.map((id, i) => `  - { id: ${id}, type: ${t.component}${i + 1 < ids.length ? `, next: ${ids[i + 1]}` : ''} }`);
    writeFileSync(join(flowDir, 'f.yaml'), ['name: f', 'version: "1"', 'start: n1', 'nodes:', ...nodeLines, ''].join('\n'));
  }
  return root;
}

/** The channel address of a bench tenant. */
export const channelOf = (tenant) => ({ tenant, env: 'prod', team: 't', channel: 'c' });
