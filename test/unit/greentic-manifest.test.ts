import { afterEach, describe, expect, it } from 'vitest';
import { ComponentCatalog } from '../../dist/components/catalog.js';
import { GREENTIC_WASI_BASELINE } from '../../dist/greentic/contract.js';
import { mapGreenticManifest } from '../../dist/greentic/manifest.js';
import { loadTenantFlows } from '../../dist/flow/loader.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR } from '../../dist/paths.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { effectivePermissions, ungrantedRequests, wasiGranted } from '../../dist/tenancy/grants.js';
import { copyExamples, writeFiles } from '../support/bundle.js';

/** A manifest as Greentic's own components ship it (component-slot-extractor's, trimmed). */
const SLOT_EXTRACTOR = {
  $schema: 'https://greentic-ai.github.io/greentic-component/schemas/v1/component.manifest.schema.json',
  artifacts: { component_wasm: 'target/wasm32-wasip2/release/component_slot_extractor.wasm' },
  capabilities: {
    host: { messaging: { inbound: true, outbound: true }, secrets: { required: [] }, telemetry: { scope: 'node' } },
    wasi: { clocks: true, filesystem: { mode: 'none', mounts: [] }, random: false },
  },
  config_schema: { additionalProperties: false, properties: {}, required: [], type: 'object' },
  default_operation: 'extract_slots',
  describe_export: 'describe',
  hashes: { component_wasm: `blake3:${'7f'.repeat(32)}` },
  id: 'ai.greentic.component-slot-extractor',
  limits: { memory_mb: 128, wall_time_ms: 1000 },
  name: 'component-slot-extractor',
  operations: [{ name: 'extract_slots', input_schema: { type: 'object' }, output_schema: { type: 'object' } }],
  profiles: { default: 'stateless', supported: ['stateless'] },
  secret_requirements: [],
  supports: ['messaging'],
  version: '0.1.0',
  world: 'greentic:component/component@0.6.0',
};

const map = (over: Record<string, unknown> = {}) => mapGreenticManifest({ ...SLOT_EXTRACTOR, ...over }, 'component.manifest.json', 'slots');
const withHost = (host: Record<string, unknown>) => map({ capabilities: { ...SLOT_EXTRACTOR.capabilities, host } });
const problemsOf = (r: ReturnType<typeof map>) => (r.ok ? [] : r.problems.map(formatProblem));

describe("Greentic's component.manifest.json mapped onto our permissions", () => {
  it('maps a real manifest: WASI baseline (+ clocks), messaging, telemetry as log, limits', () => {
    const r = map();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.manifest).toMatchObject({
      name: 'slots',
      version: '0.1.0',
      capabilities: { state: 'none', messaging: true, log: true, secrets: [] },
      limits: { deadline_ms: 1000, memory_mib: 128 },
      config_schema: SLOT_EXTRACTOR.config_schema,
    });
    expect(r.manifest.capabilities.wasi).toEqual([...GREENTIC_WASI_BASELINE, 'wasi:clocks/monotonic-clock', 'wasi:clocks/wall-clock']);
    expect(r.greentic).toEqual({
      id: 'ai.greentic.component-slot-extractor',
      name: 'component-slot-extractor',
      operations: ['extract_slots'],
      defaultOperation: 'extract_slots',
      inputSchemas: new Map([['extract_slots', { type: 'object' }]]),
      blake3: '7f'.repeat(32),
      capabilitiesDeclared: true,
      notes: [],
    });
  });

  it('asks for nothing it does not say: no clocks, no random, no state, no messaging', () => {
    const r = map({ capabilities: { wasi: {}, host: {} }, limits: undefined });
    if (!r.ok) throw new Error(problemsOf(r).join('\n'));
    expect(r.manifest.capabilities).toEqual({ state: 'none', messaging: false, log: false, secrets: [], http: false, wasi: [...GREENTIC_WASI_BASELINE] });
    expect(r.manifest.limits).toEqual({ deadline_ms: undefined, memory_mib: undefined });
  });

  it('maps random, state and secrets; caps limits at what our manifests allow', () => {
    const r = map({
      capabilities: {
        wasi: { random: true },
        host: { state: { read: true, delete: true }, secrets: { required: [{ key: 'crm_token', required: true, format: 'text' }] } },
      },
      secret_requirements: [{ key: 'openai_key', required: false }],
      limits: { memory_mb: 9000, wall_time_ms: 9_000_000 },
    });
    if (!r.ok) throw new Error(problemsOf(r).join('\n'));
    expect(r.manifest.capabilities.wasi.slice(-3)).toEqual(['wasi:random/random', 'wasi:random/insecure', 'wasi:random/insecure-seed']);
    expect(r.manifest.capabilities.state).toBe('write');
    expect(r.manifest.capabilities.secrets).toEqual(['crm_token', 'openai_key']);
    expect(r.manifest.limits).toEqual({ deadline_ms: 600_000, memory_mib: 4096 });
    const readOnly = withHost({ state: { read: true } });
    expect(readOnly.ok && readOnly.manifest.capabilities.state).toBe('read');
  });

  it('maps capabilities.host.http.client to outgoing HTTP, which the tenant then grants by origin', () => {
    const r = withHost({ http: { client: true, server: false } });
    expect(r.ok && r.manifest.capabilities.http).toBe(true);
    const none = withHost({ http: { client: false, server: false } });
    expect(none.ok && none.manifest.capabilities.http).toBe(false);
  });

  it('refuses capabilities this host cannot give, naming the field', () => {
    expect(problemsOf(withHost({ http: { client: true, server: true } }))).toEqual([
      'component.manifest.json: capabilities.host.http.server: greentic-host does not provide an HTTP server to components; the component cannot run here',
    ]);
    expect(problemsOf(withHost({ events: { inbound: true } }))).toEqual([
      'component.manifest.json: capabilities.host.events.inbound: greentic-host does not provide events to components; the component cannot run here',
    ]);
    expect(
      problemsOf(
        map({ capabilities: { host: {}, wasi: { filesystem: { mode: 'sandbox', mounts: [{ name: 'data', host_class: 'scratch', guest_path: '/data' }] } } } }),
      ),
    ).toEqual([
      'component.manifest.json: capabilities.wasi.filesystem.mounts: greentic-host preopens no directories for components; remove the mounts (mode "none")',
    ]);
    expect(problemsOf(withHost({ secrets: { required: [{ key: 'Openai.Key', required: true }] } }))).toEqual([
      'component.manifest.json: capabilities.host.secrets.required[0].key: secret "Openai.Key" cannot be served here: it has upper-case letters; ids are lower case (^[a-z0-9][a-z0-9_-]{0,62}$) (or the same in upper case, as SLACK_BOT_TOKEN)',
    ]);
    // Greentic's upper-case keys are the lower-case secret names of our grammar.
    const upper = withHost({ secrets: { required: [{ key: 'OPENAI_API_KEY', required: true }] } });
    expect(upper.ok && upper.manifest.capabilities.secrets).toEqual(['openai_api_key']);
  });

  it('is strict where a field grants or limits, tolerant of descriptive fields', () => {
    expect(problemsOf(withHost({ kv: { read: true } }))).toEqual(['component.manifest.json: capabilities.host.kv: unknown key']);
    expect(problemsOf(map({ limits: { memory_mb: 64, wall_time_ms: 100, cpu: 2 } }))).toEqual(['component.manifest.json: limits.cpu: unknown key']);
    expect(problemsOf(map({ default_operation: 'nope' }))).toEqual([
      'component.manifest.json: default_operation: "nope" is not one of the operations (extract_slots)',
    ]);
    const r = map({
      homepage: 'https://example.com',
      limits: { memory_mb: 64, wall_time_ms: 100, fuel: 10 },
      capabilities: { host: {}, wasi: { env: { allow: ['HOME'] }, filesystem: { mode: 'read_only', mounts: [] } } },
    });
    expect(r.ok && r.greentic.notes).toEqual([
      'ignored unknown field "homepage"',
      'capabilities.wasi.filesystem.mode "read_only" without mounts: the component sees no directories',
      'capabilities.wasi.env.allow (HOME): greentic-host passes no environment variables; the component sees an empty environment',
      'limits.fuel: calls are bounded by wall_time_ms here, not by fuel',
    ]);
  });
});

describe('tenant grants for Greentic components', () => {
  it('a package wildcard grants each interface of that package, and only those', () => {
    expect(wasiGranted(['wasi:cli/*'], 'wasi:cli/stderr')).toBe(true);
    expect(wasiGranted(['wasi:cli/*'], 'wasi:clocks/wall-clock')).toBe(false);
    expect(wasiGranted(['wasi:cli/environment'], 'wasi:cli/exit')).toBe(false);
  });

  const cleanups: Array<() => void> = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  it('a tenant component with component.manifest.json: pinned and mapped; ungranted clocks keep its flow out', async () => {
    const b = copyExamples();
    cleanups.push(b.cleanup);
    writeFiles(b.dir, {
      'tenants/acme/components/slots/component.manifest.json': JSON.stringify(SLOT_EXTRACTOR),
      'tenants/acme/components/slots/component.sha256': `${'ab'.repeat(32)}  slots.wasm\n`,
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: {}, staging: {} },
        grants: { components: { reply: null, ask: null, branch: null, slots: { wasi: ['wasi:cli/*', 'wasi:io/*', 'wasi:filesystem/*'] } } },
      },
      'tenants/acme/flows/acme_sales_flow.yaml': {
        name: 'acme_sales_flow',
        version: '1',
        start: 'a',
        nodes: [
          { id: 'a', type: 'slots', next: 'b' },
          { id: 'b', type: 'slots', config: { op: 'extract_slots' } },
        ],
      },
    });
    const ws = await loadWorkspace(b.dir);
    expect(ws.problems).toEqual([]);
    const acme = ws.tenants.get('acme')!;
    const catalog = await ComponentCatalog.load({ sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR }, ws);
    const entry = catalog.resolve('acme', 'slots')!;
    expect(catalog.problems).toEqual([]);
    expect(entry).toMatchObject({ pinnedDigest: 'ab'.repeat(32), origin: 'tenant', greentic: { operations: ['extract_slots'] } });
    expect(entry.wasmPath.endsWith('/tenants/acme/components/slots/slots.wasm')).toBe(true);
    // The clocks it asks for are not granted: that is what keeps its flow from loading.
    expect(ungrantedRequests(acme, entry.manifest)).toEqual([
      'WASI interface "wasi:clocks/monotonic-clock" (grants.components.slots.wasi)',
      'WASI interface "wasi:clocks/wall-clock" (grants.components.slots.wasi)',
    ]);
    expect([...effectivePermissions(acme, 'prod', entry.manifest).wasi]).toEqual([...GREENTIC_WASI_BASELINE]);
    const flows = await loadTenantFlows(acme, catalog);
    expect(flows.problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(/acme_sales_flow\.yaml: nodes\.a\.type: component "slots" needs WASI interface "wasi:clocks\/wall-clock"/),
    );
  });

  it("a node's op must be one the manifest lists; `op` is not part of the config its schema checks", async () => {
    const b = copyExamples();
    cleanups.push(b.cleanup);
    const manifest = { ...SLOT_EXTRACTOR, capabilities: { host: {}, wasi: {} } };
    writeFiles(b.dir, {
      'tenants/acme/components/slots/component.manifest.json': JSON.stringify(manifest),
      'tenants/acme/components/slots/component.sha256': `${'ab'.repeat(32)} *slots.wasm\n`,
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: {}, staging: {} },
        grants: { components: { reply: null, ask: null, branch: null, slots: { wasi: ['wasi:cli/*', 'wasi:io/*', 'wasi:filesystem/*'] } } },
      },
      'tenants/acme/flows/acme_sales_flow.yaml': {
        name: 'acme_sales_flow',
        version: '1',
        start: 'a',
        nodes: [
          { id: 'a', type: 'slots', next: 'c' },
          { id: 'c', type: 'slots', config: { op: 'extract_slots' } },
        ],
      },
      'tenants/acme/flows/acme_support_flow.yaml': {
        name: 'acme_support_flow',
        version: '1',
        start: 'b',
        nodes: [
          { id: 'b', type: 'slots', config: { op: 'translate' }, next: 'c' },
          { id: 'c', type: 'slots', config: { op: 'extract_slots', colour: 'red' } },
        ],
      },
    });
    const ws = await loadWorkspace(b.dir);
    const catalog = await ComponentCatalog.load({ sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR }, ws);
    const flows = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    const shown = flows.problems.map(formatProblem).map((p) => p.replace(/^.*acme_support_flow\.yaml: /, ''));
    expect(shown).toEqual([
      'nodes.b.config.op: component "slots" has no operation "translate" (its manifest lists: extract_slots)',
      'nodes.c.config.colour: unknown key',
    ]);
    // Without an op, the manifest's default_operation is what the node runs.
    const sales = flows.flows.get('acme_sales_flow')!;
    expect(sales.nodes.get('a')!.configJson).toBe('{"op":"extract_slots"}');
    expect(sales.nodes.get('c')!.configJson).toBe('{"op":"extract_slots"}');
  });

  it('a missing or malformed pin keeps the component out, with the command that makes one', async () => {
    const b = copyExamples();
    cleanups.push(b.cleanup);
    writeFiles(b.dir, {
      'tenants/acme/components/slots/component.manifest.json': JSON.stringify(SLOT_EXTRACTOR),
      'tenants/acme/components/other/component.manifest.json': JSON.stringify(SLOT_EXTRACTOR),
      'tenants/acme/components/other/component.sha256': `${'ab'.repeat(32)}  ../../outside.wasm\n`,
    });
    const ws = await loadWorkspace(b.dir);
    const catalog = await ComponentCatalog.load({ sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR }, ws);
    expect(catalog.problems.map(formatProblem).map((p) => p.replace(/^.*tenants\/acme\/components\//, ''))).toEqual([
      "other/component.sha256: ../../outside.wasm: the .wasm must be a file inside the component's folder",
      "slots/component.sha256: a tenant's Greentic component is pinned here: run `sha256sum COMPONENT.wasm > component.sha256` in its folder",
    ]);
  });
});
