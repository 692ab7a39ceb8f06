import { describe, expect, it } from 'vitest';
import { ComponentRegistry } from '../../dist/components/registry.js';
import { DEFAULT_CACHE_DIR } from '../../dist/paths.js';
import { GLUE_BOUNDS_IMPORT } from '../../dist/components/glue-bounds.js';
import { LeanNode, leanMainModule, type NodeHostFunctions } from '../../dist/sandbox/node-abi.js';
import { glueBounds, ValueBudget } from '../../dist/sandbox/value-budget.js';
import { fixtureWasm } from '../support/bundle.js';
import { ACME_CTX } from '../support/scope.js';

/** Host functions over a small in-memory world, recording every call, refusing some as a real host would. */
function world() {
  const calls: unknown[] = [];
  const state = new Map([['issue', 'printer on fire']]);
  const deny = (val: string) => {
    throw { payload: { tag: 'access-denied', val } };
  };
  const host: NodeHostFunctions = {
    secretsGet: (ctx, name) => (calls.push(['secrets.get', ctx, name]), name === 'api_key' ? 's3cret ✓' : deny(`no ${name}`)),
    stateGet: (ctx, key) => (calls.push(['state.get', ctx, key]), ctx.tenantId === 'acme' ? state.get(key) : deny('forged')),
    stateSet: (ctx, key, value) => void (calls.push(['state.set', ctx, key, value]), ctx.tenantId === 'acme' ? state.set(key, value) : deny('forged')),
    stateDelete: (ctx, key) => (calls.push(['state.delete', ctx, key]), ctx.tenantId === 'acme' ? state.delete(key) : deny('forged')),
    stateListKeys: (ctx) => (calls.push(['state.list-keys', ctx]), ctx.tenantId === 'acme' ? [...state.keys()].sort() : deny('forged')),
    messagingSend: (ctx, channel, text) => void (calls.push(['messaging.send', ctx, channel, text]), ctx.tenantId === 'acme' ? undefined : deny('forged')),
    logWrite: (ctx, level, message) => void (calls.push(['log.write', ctx, level, message]), ctx.tenantId === 'acme' ? undefined : deny('forged')),
  };
  // The same functions as jco-style imports (camelCase names, throw { payload } for errors).
  const jcoImports = {
    'greentic:host/secrets': { get: host.secretsGet },
    'greentic:host/state': { get: host.stateGet, set: host.stateSet, delete: host.stateDelete, listKeys: host.stateListKeys },
    'greentic:host/messaging': { send: host.messagingSend },
    'greentic:host/log': { write: host.logWrite },
  };
  // Both bindings charge what they lift to a call's budget (the defaults here).
  const budget = ValueBudget.startup();
  return { host, jcoImports: { ...jcoImports, [GLUE_BOUNDS_IMPORT]: glueBounds(() => budget) }, calls, state, budget: () => budget };
}

async function both(fixture: string) {
  const registry = new ComponentRegistry(DEFAULT_CACHE_DIR);
  const compiled = await registry.compile(await registry.loadFile(fixtureWasm(fixture)), 64);
  const main = leanMainModule(compiled.modules);
  return { compiled, main };
}

async function outcome(run: () => unknown) {
  try {
    return { ok: run() };
  } catch (e) {
    const p = (e as { payload?: unknown }).payload;
    return p ? { err: p } : { trap: String((e as Error).message ?? e) };
  }
}

const input = (text: string, config = '{}', resumed = false) => ({ nodeId: 'n1', message: { text, userId: 'u1', channel: 'slack' }, config, resumed });

describe("the lean node binding behaves exactly like jco's glue", () => {
  const scripts = [
    [],
    [
      { fn: 'state.get', args: ['issue'] },
      { fn: 'state.get', args: ['missing'] },
      { fn: 'state.set', args: ['naïve key?', 'ünïcødé 🎉'] },
      { fn: 'state.list-keys', args: [] },
      { fn: 'state.delete', args: ['issue'] },
      { fn: 'state.delete', args: ['issue'] },
    ],
    [
      { fn: 'secrets.get', args: ['api_key'] },
      { fn: 'secrets.get', args: ['other'] },
      { fn: 'messaging.send', args: ['slack', 'hi there'] },
      { fn: 'log.write', args: ['warn', 'careful'] },
    ],
    [
      { fn: 'state.get', args: ['issue'], ctx: { tenantId: 'bigcorp' } },
      { fn: 'state.list-keys', args: [], ctx: { teamId: null } },
      { fn: 'log.write', args: ['info', 'x'], ctx: { tenantId: 'bigcorp' } },
    ],
  ];
  it.each(scripts.map((s, i) => [i, s] as const))('prober (JS) script %i', async (_i, calls) => {
    const { compiled, main } = await both('prober');
    expect(main).toBe('component.core.wasm');
    const a = world();
    const b = world();
    const { instantiate } = (await import(compiled.component.glueUrl)) as {
      instantiate: (g: (n: string) => WebAssembly.Module, i: object) => Promise<Record<string, { invoke: (c: unknown, i: unknown) => unknown }>>;
    };
    const jco = (await instantiate((n) => compiled.modules.get(n)!, a.jcoImports))['greentic:host/node@0.1.0']!;
    const lean = await LeanNode.instantiate(compiled.modules.get(main!)!, () => b.host, b.budget);
    for (const cfg of ['{}', JSON.stringify({ calls, next: 'route', route: 'onwards', replies: ['extra', ''] })]) {
      const text = JSON.stringify({ calls, next: 'wait' });
      const x = await outcome(() => jco.invoke(ACME_CTX, input(text, cfg)));
      const y = await outcome(() => lean.invoke(ACME_CTX, input(text, cfg)));
      expect(y).toEqual(x);
    }
    expect(b.calls).toEqual(a.calls);
    expect([...b.state]).toEqual([...a.state]);
  });

  it.each([['forger'], ['bench-wat'], ['faults']])('%s (WAT)', async (fixture) => {
    const { compiled, main } = await both(fixture);
    expect(main).toBeDefined();
    const a = world();
    const b = world();
    const { instantiate } = (await import(compiled.component.glueUrl)) as {
      instantiate: (g: (n: string) => WebAssembly.Module, i: object) => Promise<Record<string, { invoke: (c: unknown, i: unknown) => unknown }>>;
    };
    const jco = (await instantiate((n) => compiled.modules.get(n)!, a.jcoImports))['greentic:host/node@0.1.0']!;
    const lean = await LeanNode.instantiate(compiled.modules.get(main!)!, () => b.host, b.budget);
    for (const text of ['ok', 'c', 't', 'h']) {
      const x = await outcome(() => jco.invoke({ ...ACME_CTX, teamId: undefined }, input(text)));
      const y = await outcome(() => lean.invoke({ ...ACME_CTX, teamId: undefined }, input(text)));
      if ('trap' in x) expect(y, `${text}: jco ${JSON.stringify(x)}`).toHaveProperty('trap');
      else expect(y).toEqual(x);
    }
    expect(b.calls).toEqual(a.calls);
  });

  it('is refused for a component with other imports (it then runs through jco)', async () => {
    const { main } = await both('wasi-env');
    expect(main).toBeUndefined();
  });
});
