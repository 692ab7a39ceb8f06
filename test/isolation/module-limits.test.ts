import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComponentRegistry, type LoadedComponent } from '../../dist/components/registry.js';
import { DEFAULT_CACHE_DIR } from '../../dist/paths.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { DEFAULT_MODULE_LIMITS, type ModuleLimits } from '../../dist/tenancy/model.js';
import { copyExamples, fixtureWasm, installTenantComponent, writeFiles } from '../support/bundle.js';
import { BIGCORP_WEBCHAT, replies, startHost, type TestHost } from '../support/host.js';

const ACME_SUPPORT = { tenant: 'acme', env: 'prod', team: 'support', channel: 'slack' };
const ACME_SALES = { tenant: 'acme', env: 'prod', team: 'sales', channel: 'teams' };
const BIGCORP_HELLO = "BigCorp Helpdesk here. What's your issue?";

describe('what a component declares is refused at load past the tenant limit, and loads at it', () => {
  const registry = new ComponentRegistry(DEFAULT_CACHE_DIR);
  const source = 'tenants/acme/components/hog/manifest.yaml';
  let hog: LoadedComponent;
  beforeAll(async () => {
    hog = await registry.loadFile(fixtureWasm('hog-declares'));
  });
  const compile = (limits: Partial<ModuleLimits>) => registry.compile(hog, 64, source, { name: 'hog', limits: { ...DEFAULT_MODULE_LIMITS, ...limits } });

  it('counts what its three core modules declare', async () => {
    const { footprint } = await compile({});
    // hog-declares.wat declares 3 tables, 40 globals, 30 functions...; jco's shim and fixup modules add their own.
    expect(footprint).toMatchObject({ coreModules: 3, memories: 1, tables: 4, globals: 40, functions: 33, dataSegments: 5, elementSegments: 5, elements: 10 });
  });

  // [key in settings.limits.module, field, how the refusal says it]
  const counted: Array<[string, keyof ModuleLimits, (n: number) => string]> = [
    ['bytes', 'bytes', (n) => `is ${n} bytes`],
    ['core_modules', 'coreModules', (n) => `has ${n} core modules`],
    ['memories', 'memories', (n) => `declares ${n} memories`],
    ['tables', 'tables', (n) => `declares ${n} tables`],
    ['globals', 'globals', (n) => `declares ${n} globals`],
    ['functions', 'functions', (n) => `declares ${n} functions`],
    ['code_bytes', 'codeBytes', (n) => `declares ${n} bytes of code`],
    ['data_segments', 'dataSegments', (n) => `declares ${n} data segments`],
    ['data_bytes', 'dataBytes', (n) => `declares ${n} bytes of data segments`],
    ['element_segments', 'elementSegments', (n) => `declares ${n} element segments`],
    ['elements', 'elements', (n) => `declares ${n} elements in element segments`],
    ['types', 'types', (n) => `declares ${n} types`],
    ['imports', 'imports', (n) => `declares ${n} core imports`],
    ['exports', 'exports', (n) => `declares ${n} core exports`],
  ];
  it.each(counted)('%s', async (key, field, says) => {
    const value = (await compile({})).footprint[field as 'bytes'];
    await expect(compile({ [field]: value })).resolves.toMatchObject({ key: expect.any(String) });
    await expect(compile({ [field]: value - 1 })).rejects.toThrowError(
      `${source}: component "hog" ${says(value)}, more than the ${value - 1} allowed (settings.limits.module.${key})`,
    );
  });

  it('table_elements: a table that starts above it is refused; at it, every table is capped there', async () => {
    await expect(compile({ tableElements: 9 })).rejects.toThrowError(
      `${source}: component "hog": core module component.core.wasm: table 0 starts with 10 elements, more than the 9 allowed (settings.limits.module.table_elements)`,
    );
    const at = await compile({ tableElements: 10 });
    expect(at.footprint.tableSlots).toBe(10 + 10 + 10 + 1); // t0, t1 (its own max 20 lowered), t2, and the shim's table of 1
  });

  it('heap_mib: the engine heap an instance can take, its tables grown to their maximum', async () => {
    const { heapBytes } = await compile({});
    expect(heapBytes).toBeGreaterThan(9 * 1024 * 1024); // two uncapped tables at 100,000 elements
    await expect(compile({ heapMib: 9 })).rejects.toThrowError(
      `${source}: component "hog" would take about ${Math.ceil(heapBytes / 1048576)} MiB of engine heap per instance (its tables at their maximum, functions, globals, imports and exports), more than the 9 MiB allowed (settings.limits.module.heap_mib)`,
    );
    await expect(compile({ heapMib: 1, tableElements: 10 })).resolves.toMatchObject({ heapBytes: expect.any(Number) });
  });

  it('a file over module.bytes is refused before it is read', async () => {
    const size = statSync(fixtureWasm('hog-declares')).size;
    await expect(registry.loadFile(fixtureWasm('hog-declares'), undefined, size - 1)).rejects.toThrowError(
      `${fixtureWasm('hog-declares')}: the component is ${size} bytes, more than the ${size - 1} allowed (settings.limits.module.bytes)`,
    );
  });
});

describe("a tenant's module limits come from its config; a component over them does not load, and others run", () => {
  it('refuses the component with the problem in the tenant file, and serves every other tenant', async () => {
    const bundle = copyExamples();
    try {
      installTenantComponent(bundle.dir, 'acme', 'hog-declares', 'hog');
      writeFiles(bundle.dir, {
        'tenants/acme/tenant.yaml': {
          tenant: 'acme',
          environments: { prod: {}, staging: { settings: { limits: { module: { tables: 8 } } } } },
          settings: { limits: { module: { tables: 3, globals: 1000 } } },
          grants: { components: { reply: null, ask: null, branch: null, hog: null } },
        },
        'tenants/acme/flows/acme_support_flow.yaml': { name: 'acme_support_flow', version: '1', start: 'h', nodes: [{ id: 'h', type: 'hog' }] },
      });
      const t = await startHost({ bundleDir: bundle.dir, workers: 1 });
      try {
        expect(t.host.problems.map(formatProblem)).toEqual([
          `${bundle.dir}/tenants/acme/components/hog/manifest.yaml: ${bundle.dir}/tenants/acme/components/hog/manifest.yaml: component "hog" declares 4 tables, more than the 3 allowed (settings.limits.module.tables)`,
        ]);
        const refused = await t.say(ACME_SUPPORT, 'u1', 'hi');
        expect(refused).toMatchObject({ ok: false, code: 'flow-unavailable' });
        expect(replies(await t.say(BIGCORP_WEBCHAT, 'u1', 'hi'))).toEqual([BIGCORP_HELLO]);
      } finally {
        await t.close();
      }
    } finally {
      bundle.cleanup();
    }
  });
});

describe('a guest that grows, recurses or hands over too much at run time fails only its own call', () => {
  const bundle = copyExamples();
  let t: TestHost;
  beforeAll(async () => {
    installTenantComponent(bundle.dir, 'acme', 'hog-run');
    installTenantComponent(bundle.dir, 'acme', 'hog-glue');
    installTenantComponent(bundle.dir, 'acme', 'hog-cbor');
    writeFiles(bundle.dir, {
      'tenants/acme/teams/support.yaml': {
        team: 'support',
        environments: ['prod', 'staging'],
        channels: { slack: { provider: 'slack', flow: 'acme_support_flow' }, telegram: { provider: 'telegram', flow: 'acme_cbor_flow' } },
      },
      'tenants/acme/flows/acme_cbor_flow.yaml': { name: 'acme_cbor_flow', version: '1', start: 'h', nodes: [{ id: 'h', type: 'hog-cbor' }] },
      'tenants/acme/tenant.yaml': {
        tenant: 'acme',
        environments: { prod: {}, staging: {} },
        // Room for a slow machine: what is tested is how a call fails, not how fast.
        settings: { limits: { deadline_ms: 10000 } },
        grants: {
          components: {
            reply: null,
            ask: null,
            branch: null,
            'hog-run': null,
            'hog-cbor': null,
            'hog-glue': { wasi: ['wasi:clocks/monotonic-clock', 'wasi:io/poll'] },
          },
        },
      },
      'tenants/acme/flows/acme_support_flow.yaml': { name: 'acme_support_flow', version: '1', start: 'h', nodes: [{ id: 'h', type: 'hog-run' }] },
      'tenants/acme/flows/acme_sales_flow.yaml': { name: 'acme_sales_flow', version: '1', start: 'h', nodes: [{ id: 'h', type: 'hog-glue' }] },
    });
    t = await startHost({ bundleDir: bundle.dir, workers: 2 });
    expect(t.host.problems).toEqual([]);
  });
  afterAll(async () => {
    await t?.close();
    bundle.cleanup();
  });

  const items = (c: string) => `component "${c}" handed the host lists of more than 100000 elements in one call (settings.limits.max_value_items)`;
  const bytes = (c: string) => `component "${c}" handed the host more than 16777216 bytes of strings and lists in one call (settings.limits.max_value_bytes)`;
  const cases: Array<[string, typeof ACME_SUPPORT, string, { replies: string[] } | { code: string; message: string | RegExp }]> = [
    ['a funcref table grown without end is capped', ACME_SUPPORT, 't', { replies: ['table capped'] }],
    ['an externref table grown without end is capped', ACME_SUPPORT, 'x', { replies: ['table capped'] }],
    [
      'memory grown without end runs out at the cap',
      ACME_SUPPORT,
      'b',
      { code: 'out-of-memory', message: /^component "hog-run" ran out of memory \(limit 64 MiB\)/ },
    ],
    [
      'fat frames recursing without end',
      ACME_SUPPORT,
      'r',
      { code: 'trap', message: 'component "hog-run" trapped: Maximum call stack size exceeded (unbounded recursion)' },
    ],
    [
      'recursion that calls the host at every level',
      ACME_SUPPORT,
      'R',
      { code: 'trap', message: 'component "hog-run" trapped: Maximum call stack size exceeded (unbounded recursion)' },
    ],
    ['a million empty replies (lean binding)', ACME_SUPPORT, 'e', { code: 'limit-exceeded', message: items('hog-run') }],
    ['1000 replies over the same 1 MiB (lean binding)', ACME_SUPPORT, 'o', { code: 'limit-exceeded', message: bytes('hog-run') }],
    ['a 20 MiB key passed to state.get', ACME_SUPPORT, 's', { code: 'limit-exceeded', message: bytes('hog-run') }],
    ["a million empty replies (jco's glue)", ACME_SALES, 'e', { code: 'limit-exceeded', message: items('hog-glue') }],
    ["1000 replies over the same 1 MiB (jco's glue)", ACME_SALES, 'o', { code: 'limit-exceeded', message: bytes('hog-glue') }],
    [
      '2000 live resource handles',
      ACME_SALES,
      'h',
      { code: 'limit-exceeded', message: 'component "hog-glue" holds more than 1000 live resource handles of one type' },
    ],
    ['1100 resource handles, each dropped', ACME_SALES, 'H', { replies: ['handles dropped'] }],
  ];
  it.each(cases)('%s', async (_name, channel, input, expected) => {
    expect(replies(await t.say(channel, 'w1', 'fine'))).toEqual(['ok']);
    const r = await t.say(channel, 'w1', input);
    if ('replies' in expected) expect(replies(r)).toEqual(expected.replies);
    else {
      expect(r).toMatchObject({ ok: false, code: expected.code, retryable: false });
      if (!r.ok && typeof expected.message === 'string') expect(r.message).toBe(expected.message);
      else if (!r.ok) expect(r.message).toMatch(expected.message);
    }
    // The next call works (a fresh instance if the old one failed), and so does every other tenant.
    expect(replies(await t.say(channel, 'w1', 'fine'))).toEqual(['ok']);
    expect(replies(await t.say(BIGCORP_WEBCHAT, `after-${channel.team}-${input.charCodeAt(0)}`, 'hi'))).toEqual([BIGCORP_HELLO]);
  });

  it("a Greentic component's output of a million CBOR items is refused before it is decoded", async () => {
    const telegram = { ...ACME_SUPPORT, channel: 'telegram' };
    for (const user of ['c1', 'c2']) {
      const r = await t.say(telegram, user, 'go');
      expect(r).toMatchObject({ ok: false, code: 'limit-exceeded', retryable: false });
      if (!r.ok) expect(r.message).toBe(items('hog-cbor'));
      expect(replies(await t.say(BIGCORP_WEBCHAT, `after-cbor-${user}`, 'hi'))).toEqual([BIGCORP_HELLO]);
    }
  });
});
