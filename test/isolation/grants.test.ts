import { afterEach, describe, expect, it } from 'vitest';
import { importRefusal } from '../../dist/flow/runtime.js';
import type { LoadedComponent } from '../../dist/components/registry.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { copyExamples, installTenantComponent, writeFiles } from '../support/bundle.js';
import { ACME_SLACK, BIGCORP_WEBCHAT, replies, startHost } from '../support/host.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
async function hostWith(files: Record<string, string | object>, setup?: (dir: string) => void) {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  setup?.(b.dir);
  writeFiles(b.dir, files);
  const t = await startHost({ bundleDir: b.dir, workers: 1 });
  cleanups.push(() => t.close());
  return t;
}

describe('components are usable only where granted', () => {
  it('a flow using a component its tenant does not grant is refused at load; other tenants run', async () => {
    const t = await hostWith(
      { 'tenants/acme/flows/acme_support_flow.yaml': { name: 'acme_support_flow', version: '1', start: 'x', nodes: [{ id: 'x', type: 'forger' }] } },
      (dir) => installTenantComponent(dir, 'acme', 'forger'),
    );
    expect(t.host.problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(/acme_support_flow\.yaml: nodes\.x\.type: component "forger" is not granted to tenant "acme" \(grants\.components\)$/),
    );
    const r = await t.say(ACME_SLACK, 'u1', 'hello');
    expect(r).toMatchObject({ ok: false, code: 'flow-unavailable' });
    // The broken flow of acme does not stop bigcorp, nor acme's other flows.
    expect(replies(await t.say(BIGCORP_WEBCHAT, 'u9', 'hi'))).toEqual(["BigCorp Helpdesk here. What's your issue?"]);
    expect(replies(await t.say({ tenant: 'acme', env: 'prod', team: 'sales', channel: 'teams' }, 'u1', 'hi'))).toEqual([
      'Hi from ACME Sales! What product are you interested in?',
    ]);
  });

  it("a tenant cannot name another tenant's component, even one that is granted there", async () => {
    const t = await hostWith(
      {
        'tenants/acme/tenant.yaml': {
          tenant: 'acme',
          environments: { prod: {}, staging: {} },
          grants: { components: { reply: null, ask: null, branch: null, forger: null } },
        },
        'tenants/bigcorp/flows/bigcorp_helpdesk_flow.yaml': { name: 'bigcorp_helpdesk_flow', version: '1', start: 'x', nodes: [{ id: 'x', type: 'forger' }] },
      },
      (dir) => installTenantComponent(dir, 'acme', 'forger'),
    );
    expect(t.host.problems.map(formatProblem)).toContainEqual(
      expect.stringMatching(
        /bigcorp_helpdesk_flow\.yaml: nodes\.x\.type: unknown component type "forger" \(tenant "bigcorp" can use: ask, branch, handlebars, reply\)$/,
      ),
    );
    expect(await t.say(BIGCORP_WEBCHAT, 'u9', 'hi')).toMatchObject({ ok: false, code: 'flow-unavailable' });
  });

  it('a tenant component whose bytes do not match its pinned digest is refused', async () => {
    const t = await hostWith(
      {
        'tenants/acme/tenant.yaml': {
          tenant: 'acme',
          environments: { prod: {}, staging: {} },
          grants: { components: { reply: null, ask: null, branch: null, forger: null } },
        },
        'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'x', nodes: [{ id: 'x', type: 'forger' }] },
      },
      (dir) => {
        installTenantComponent(dir, 'acme', 'forger');
        writeFiles(dir, { 'tenants/acme/components/forger/manifest.yaml': `name: forger\nversion: 0.1.0\nwasm: forger.wasm\nsha256: "${'0'.repeat(64)}"\n` });
      },
    );
    expect(t.host.problems.map(formatProblem)).toContainEqual(expect.stringMatching(/forger\.wasm: sha256 is [0-9a-f]{64} but the manifest pins 0{64}$/));
    expect(await t.say({ tenant: 'acme', env: 'prod', team: 'sales', channel: 'teams' }, 'u1', 'hi')).toMatchObject({ ok: false, code: 'flow-unavailable' });
  });
});

describe('WASI imports are refused unless requested and granted', () => {
  const component = (imports: string[]): LoadedComponent =>
    ({
      digest: 'd',
      size: 1,
      glueUrl: '',
      modules: new Map(),
      imports,
      versionedImports: imports.map((i) => (i.includes('@') ? i : `${i}@0.2.3`)),
      exports: ['greentic:host/node@0.1.0'],
      world: 'greentic-host-node',
      transpiled: false,
    }) as LoadedComponent;
  const manifest = (wasi: string[]) => ({
    name: 'c',
    version: '1.0.0',
    capabilities: { state: 'none' as const, messaging: false, log: false, secrets: [], wasi },
    limits: {},
  });

  it('names the import that is not requested, then the one not granted', () => {
    expect(importRefusal('c', manifest([]), new Set(), component(['greentic:host/state', 'wasi:filesystem/preopens']), 'tenant "acme"')).toBe(
      'component "c" imports wasi:filesystem/preopens, which its manifest does not request (capabilities.wasi)',
    );
    expect(importRefusal('c', manifest(['wasi:filesystem/preopens']), new Set(), component(['wasi:filesystem/preopens']), 'tenant "acme"')).toBe(
      'component "c" imports wasi:filesystem/preopens, which tenant "acme" does not grant (grants.components.c.wasi)',
    );
    expect(
      importRefusal('c', manifest(['wasi:cli/environment']), new Set(['wasi:cli/environment']), component(['wasi:cli/environment@0.2.3']), 'tenant "acme"'),
    ).toBeNull();
    expect(importRefusal('c', manifest([]), new Set(), component(['evil:net/socket']), 'tenant "acme"')).toBe(
      'component "c" imports evil:net/socket, which this host does not provide',
    );
  });
});
