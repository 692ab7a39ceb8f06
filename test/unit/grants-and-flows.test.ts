import { afterEach, describe, expect, it } from 'vitest';
import { ComponentCatalog } from '../../dist/components/catalog.js';
import { loadTenantFlows } from '../../dist/flow/loader.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR } from '../../dist/paths.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { componentDenial, effectivePermissions, ungrantedRequests } from '../../dist/tenancy/grants.js';
import { copyExamples, writeFiles } from '../support/bundle.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
const builtins = { sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR };

async function load(files: Record<string, string | object> = {}) {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  writeFiles(b.dir, files);
  const ws = await loadWorkspace(b.dir);
  const catalog = await ComponentCatalog.load(builtins, ws);
  return { ws, catalog };
}

describe('grants', () => {
  it('a component is usable only where the tenant grants it', async () => {
    const { ws } = await load();
    const acme = ws.tenants.get('acme')!;
    expect(componentDenial(acme, 'support', 'branch')).toBeNull();
    expect(componentDenial(acme, 'sales', 'branch')).toBe(
      'component "branch" is not granted to team "sales" of tenant "acme" (grants.components.branch.teams)',
    );
    expect(componentDenial(acme, 'support', 'forger')).toBe('component "forger" is not granted to tenant "acme" (grants.components)');
  });

  it('effective permissions = manifest request AND tenant grant, limits capped by policy', async () => {
    const { ws, catalog } = await load({
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: { settings: { limits: { deadline_ms: 300 } } }, staging: {} },
        grants: { components: { reply: null }, secrets: { reply: { names: ['a'], global: ['g'] } } },
      },
    });
    const acme = ws.tenants.get('acme')!;
    const manifest = {
      ...catalog.builtins.get('reply')!.manifest,
      capabilities: { ...catalog.builtins.get('reply')!.manifest.capabilities, secrets: ['a', 'g', 'x'] },
    };
    const p = effectivePermissions(acme, 'prod', manifest);
    expect([...p.secrets].sort()).toEqual(['a', 'g']);
    expect([...p.globalSecrets]).toEqual(['g']);
    expect(p.limits.deadlineMs).toBe(300); // manifest asks 1000, policy caps at 300
    expect(p.state).toBe('read');
    expect(ungrantedRequests(acme, manifest)).toEqual(['secret "x" (grants.secrets.reply.names)']);
  });
});

describe('flow loading', () => {
  it('loads the example flows', async () => {
    const { ws, catalog } = await load();
    for (const tenant of ws.tenants.values()) {
      const flows = await loadTenantFlows(tenant, catalog);
      expect(flows.problems.map(formatProblem)).toEqual([]);
      expect(flows.unavailable.size).toBe(0);
    }
  });

  const base = { name: 'acme_support_flow', version: '1', start: 'a' };
  const cases: Array<[string, object, RegExp]> = [
    [
      'an unknown component type',
      { ...base, nodes: [{ id: 'a', type: 'teleport' }] },
      /acme_support_flow\.yaml: nodes\.a\.type: unknown component type "teleport" \(tenant "acme" can use: ask, branch, handlebars, reply\)$/,
    ],
    [
      'a route to a missing node',
      { ...base, nodes: [{ id: 'a', type: 'branch', config: { key: 'k', cases: [] }, routes: [{ when: 'x', to: 'nowhere' }] }] },
      /nodes\.a\.routes\[0\]\.to: no node "nowhere" in this flow$/,
    ],
    [
      'a next to a missing node',
      { ...base, nodes: [{ id: 'a', type: 'reply', config: { message: 'hi' }, next: 'b' }] },
      /nodes\.a\.next: no node "b" in this flow$/,
    ],
    [
      'a missing start node',
      { ...base, start: 'zz', nodes: [{ id: 'a', type: 'reply', config: { message: 'hi' } }] },
      /acme_support_flow\.yaml: start: no node "zz" in this flow$/,
    ],
    [
      'a duplicate node id',
      {
        ...base,
        nodes: [
          { id: 'a', type: 'reply', config: { message: 'x' } },
          { id: 'a', type: 'reply', config: { message: 'y' } },
        ],
      },
      /nodes\[1\]\.id: node "a" is defined twice$/,
    ],
    [
      'a node config that breaks the component schema',
      { ...base, nodes: [{ id: 'a', type: 'reply', config: { mesage: 'typo' } }] },
      /nodes\.a\.config\.(message|mesage): /,
    ],
    [
      'a flow name that is not its file name',
      { ...base, name: 'other_flow', nodes: [{ id: 'a', type: 'reply', config: { message: 'x' } }] },
      /acme_support_flow\.yaml: name: says "other_flow" but the file is flows\/acme_support_flow\.yaml$/,
    ],
    ['an unknown key', { ...base, nodes: [{ id: 'a', type: 'reply', config: { message: 'x' }, nxt: 'a' }] }, /nodes\.a\.nxt: unknown key$/],
  ];
  it.each(cases)('reports %s with file and path', async (_name, flow, expected) => {
    const { ws, catalog } = await load({ 'tenants/acme/flows/acme_support_flow.yaml': flow });
    const flows = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    expect(flows.problems.map(formatProblem)).toContainEqual(expect.stringMatching(expected));
    expect(flows.flows.has('acme_support_flow')).toBe(false);
    // The channels running the broken flow are unavailable; the tenant's other flow still loads.
    expect(flows.unavailable.get('support/slack')).toMatch(/acme_support_flow/);
    expect(flows.flows.has('acme_sales_flow')).toBe(true);
  });

  it('refuses a flow using a component the tenant does not grant', async () => {
    const { ws, catalog } = await load({
      'tenants/acme/tenant.yaml': { tenant: 'acme', environments: { prod: {}, staging: {} }, grants: { components: { reply: null, ask: null } } },
    });
    const flows = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    expect(flows.problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(/acme_support_flow\.yaml: nodes\.triage\.type: component "branch" is not granted to tenant "acme" \(grants\.components\)$/),
    );
  });

  it('refuses a channel whose team may not use a component of its flow', async () => {
    const { ws, catalog } = await load({
      'tenants/acme/teams/sales.yaml': { team: 'sales', channels: { teams: { provider: 'teams', flow: 'acme_support_flow' } } },
    });
    const flows = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    expect(flows.problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(
        /nodes\.triage\.type: component "branch" is not granted to team "sales" of tenant "acme" .*but channel sales\/teams runs this flow$/,
      ),
    );
    expect(flows.unavailable.get('sales/teams')).toMatch(/not granted to team "sales"/);
    expect(flows.unavailable.has('support/slack')).toBe(false);
  });

  it("refuses a channel bound to a flow its tenant does not have (not even another tenant's)", async () => {
    const { ws, catalog } = await load({
      'tenants/acme/teams/sales.yaml': { team: 'sales', channels: { teams: { provider: 'teams', flow: 'bigcorp_helpdesk_flow' } } },
    });
    const flows = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    expect(flows.problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(/sales\.yaml: channels\.teams\.flow: tenant "acme" has no flow "bigcorp_helpdesk_flow"/),
    );
  });

  it('refuses a component that asks for a secret the tenant does not grant', async () => {
    const { ws, catalog } = await load({
      'tenants/acme/components/lookup/manifest.yaml': {
        name: 'lookup',
        version: '1.0.0',
        wasm: 'lookup.wasm',
        sha256: 'a'.repeat(64),
        capabilities: { secrets: ['crm_token'] },
      },
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: {}, staging: {} },
        grants: { components: { reply: null, ask: null, branch: null, lookup: null } },
      },
      'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'a', nodes: [{ id: 'a', type: 'lookup' }] },
    });
    const flows = await loadTenantFlows(ws.tenants.get('acme')!, catalog);
    expect(flows.problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(
        /acme_sales_flow\.yaml: nodes\.a\.type: component "lookup" needs secret "crm_token" \(grants\.secrets\.lookup\.names\), which tenant "acme" does not grant$/,
      ),
    );
  });

  it('finds a tenant component declared by path inside its folder, for that tenant only; one name, one place', async () => {
    const { ws, catalog } = await load({
      'tenants/acme/vendor/lookup/manifest.yaml': { name: 'lookup', version: '1.0.0', wasm: 'lookup.wasm', sha256: 'b'.repeat(64) },
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: {}, staging: {} },
        components: { lookup: { path: 'tenants/acme/vendor/lookup' } },
        grants: { components: { reply: null } },
      },
    });
    expect(ws.problems).toEqual([]);
    expect(catalog.resolve('acme', 'lookup')?.wasmPath).toMatch(/vendor\/lookup\/lookup\.wasm$/);
    expect(catalog.resolve('bigcorp', 'lookup')).toBeUndefined();
    const twice = await load({
      'tenants/acme/vendor/lookup/manifest.yaml': { name: 'lookup', version: '1.0.0', wasm: 'lookup.wasm', sha256: 'b'.repeat(64) },
      'tenants/acme/components/lookup/manifest.yaml': { name: 'lookup', version: '1.0.0', wasm: 'lookup.wasm', sha256: 'b'.repeat(64) },
      'tenants/acme/tenant.yaml': { tenant: 'acme', environments: { prod: {}, staging: {} }, components: { lookup: { path: 'tenants/acme/vendor/lookup' } } },
    });
    expect(twice.catalog.problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(/tenant\.yaml: components\.lookup: component "lookup" is also in .*tenants\/acme\/components\/lookup; keep one$/),
    );
  });

  it('serves a component kept as sources from its dist/ build, and names the command when it is not built', async () => {
    const source = { name: 'lookup', version: '1.0.0', source: 'src/lookup.js' };
    const unbuilt = await load({ 'tenants/acme/components/lookup/manifest.yaml': source });
    expect(unbuilt.catalog.resolve('acme', 'lookup')).toBeUndefined();
    expect(unbuilt.catalog.problems.map(formatProblem)).toEqual([
      expect.stringMatching(
        /tenants\/acme\/components\/lookup\/manifest\.yaml: source: lookup is not built yet \(no dist\/manifest\.yaml\): run greentic-host component build \S*tenants\/acme\/components\/lookup, or greentic-host dev, which builds it$/,
      ),
    ]);
    const built = await load({
      'tenants/acme/components/lookup/manifest.yaml': source,
      'tenants/acme/components/lookup/dist/manifest.yaml': { name: 'lookup', version: '1.0.0', wasm: 'lookup.wasm', sha256: 'c'.repeat(64) },
    });
    expect(built.catalog.problems).toEqual([]);
    expect(built.catalog.resolve('acme', 'lookup')).toMatchObject({
      pinnedDigest: 'c'.repeat(64),
      wasmPath: expect.stringMatching(/components\/lookup\/dist\/lookup\.wasm$/),
    });
  });

  it('keeps tenant components to their tenant, even under the same name', async () => {
    const { catalog } = await load({
      'tenants/acme/components/lookup/manifest.yaml': { name: 'lookup', version: '1.0.0', wasm: 'lookup.wasm', sha256: 'a'.repeat(64) },
    });
    expect(catalog.resolve('acme', 'lookup')?.origin).toBe('tenant');
    expect(catalog.resolve('bigcorp', 'lookup')).toBeUndefined();
    expect(catalog.typesFor('bigcorp')).toEqual(['ask', 'branch', 'handlebars', 'reply']);
  });
});
