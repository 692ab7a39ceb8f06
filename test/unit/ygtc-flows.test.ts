// Greentic's .ygtc flows: the real files from greentic-flow load or are refused with file, path
// and reason; each operation maps onto the host's nodes; templates are checked by Handlebars'
// parser (generated templates: a verdict, never a throw).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ComponentCatalog } from '../../dist/components/catalog.js';
import { loadTenantFlows } from '../../dist/flow/loader.js';
import { checkTemplate } from '../../dist/greentic/ygtc/template-check.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR } from '../../dist/paths.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { copyExamples, writeFiles } from '../support/bundle.js';

const REAL = join(process.cwd(), 'test', 'fixtures', 'greentic-flows');
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** Tenant "shop" (default grants) with `flows` (file name -> text) in its flows/ folder. */
async function shopFlows(flows: Record<string, string>, tenantExtra = '') {
  const b = copyExamples();
  cleanups.push(b.cleanup);
  writeFiles(b.dir, {
    'tenants/shop/tenant.yaml': `tenant: shop\n${tenantExtra}teams:\n  web:\n    channels:\n      chat: { provider: messaging-webchat, flow: main }\n`,
    ...Object.fromEntries(Object.entries(flows).map(([name, text]) => [`tenants/shop/flows/${name}`, text])),
  });
  const ws = await loadWorkspace(b.dir);
  const catalog = await ComponentCatalog.load({ sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR }, ws);
  const loaded = await loadTenantFlows(ws.tenants.get('shop')!, catalog);
  // The channel's own problem (its flow "main" did not load, or is not there) is not what these tests look at.
  const problems = loaded.problems.map((p) => formatProblem(p).replace(`${b.dir}/`, '')).filter((p) => !p.startsWith('tenants/shop/tenant.yaml'));
  return { flows: loaded.flows, problems };
}

const nodesOf = (flow: { nodes: ReadonlyMap<string, { type: string; configJson: string; next: string | undefined }> }) =>
  [...flow.nodes.values()].map((n) => ({ type: n.type, config: JSON.parse(n.configJson) as unknown, next: n.next }));

describe("greentic-flow's real .ygtc files", () => {
  it('loads hello and smoke; refuses the others naming the file, the path and what this host does not run', async () => {
    const files = Object.fromEntries(
      readdirSync(REAL)
        .filter((f) => f.endsWith('.ygtc'))
        .map((f) => [f, readFileSync(join(REAL, f), 'utf8')]),
    );
    const { flows, problems } = await shopFlows(files);
    expect([...flows.keys()].sort()).toEqual(['hello-flow', 'smoke_example']);
    expect(nodesOf(flows.get('hello-flow')!)).toEqual([
      { type: 'handlebars', config: { template: 'Hello from greentic-flow!', parameters: {}, state: [] }, next: undefined },
    ]);
    expect(nodesOf(flows.get('smoke_example')!)).toEqual([
      { type: 'handlebars', config: { template: 'Hello from CI smoke test', parameters: {}, state: [] }, next: undefined },
    ]);
    const runs = '(it runs component.exec, templating.handlebars, emit.response, qa.process)';
    expect(problems).toEqual([
      'tenants/shop/flows/config_flow.ygtc: id: invalid flow id "component-qa-process.custom": it contains "."; ids match ^[a-z0-9][a-z0-9_-]{0,62}$',
      'tenants/shop/flows/config_flow.ygtc: type: a "component-config" flow is not a conversation; this host runs "messaging" flows',
      `tenants/shop/flows/hello_with_component.ygtc: nodes.hello-world: operation "handle_message" is not one greentic-host runs ${runs}`,
      `tenants/shop/flows/simple.ygtc: nodes.start: operation "op" is not one greentic-host runs ${runs}`,
      `tenants/shop/flows/weather_bot.ygtc: nodes.forecast_weather: operation "mcp.exec" is not one greentic-host runs ${runs}`,
      'tenants/shop/flows/weather_bot.ygtc: nodes.weather_text.templating.handlebars.text: "{{forecast_weather.payload.location.name}}" is not something a template can read here: it reads in.* (the message), parameters.* and state.<key>',
    ]);
  });
});

describe('operations mapped onto nodes', () => {
  it('qa.process: a welcome, then one ask per question saving its answer; templating reads the answers, parameters and the message', async () => {
    const { flows, problems } = await shopFlows({
      'main.ygtc': `id: main
type: messaging
schema_version: 2
parameters: { days: 3 }
nodes:
  in:
    qa.process:
      welcome: "Hi {{in.user}}!"
      questions:
        - { id: city, prompt: "Which city?", answer_type: text }
        - { id: when, prompt: "Which day?" }
    routing:
      - to: answer
  answer:
    templating.handlebars:
      text: "{{state.city}} on {{state.when}} for {{parameters.days}} days{{#if in.text}} ({{in.text}}){{/if}}"
    routing:
      - out: true
`,
    });
    expect(problems).toEqual([]);
    const flow = flows.get('main')!;
    expect(flow.start).toBe('in');
    expect([...flow.nodes.keys()]).toEqual(['in', 'in-city', 'in-when', 'answer']);
    expect(nodesOf(flow)).toEqual([
      { type: 'handlebars', config: { template: 'Hi {{in.user}}!', parameters: { days: 3 }, state: [] }, next: 'in-city' },
      { type: 'ask', config: { question: 'Which city?', save_as: 'city' }, next: 'in-when' },
      { type: 'ask', config: { question: 'Which day?', save_as: 'when' }, next: 'answer' },
      {
        type: 'handlebars',
        config: {
          template: '{{state.city}} on {{state.when}} for {{parameters.days}} days{{#if in.text}} ({{in.text}}){{/if}}',
          parameters: { days: 3 },
          state: ['city', 'when'],
        },
        next: undefined,
      },
    ]);
  });

  it('component.exec: the tenant component and op, checked like any node; emit.response renders its text', async () => {
    const { flows, problems } = await shopFlows(
      {
        'main.ygtc': 'id: main\ntype: messaging\nnodes:\n  bye:\n    emit.response: { text: "Bye {{in.user}}" }\n',
        'other.ygtc':
          'id: other\ntype: messaging\nnodes:\n  call:\n    component.exec: { component: weather, operation: forecast, input: { q: "{{in.text}}" } }\n',
        'ungranted.ygtc': 'id: ungranted\ntype: messaging\nnodes:\n  b:\n    component.exec: { component: branch }\n',
      },
      'grants:\n  components: { handlebars: {} }\n',
    );
    expect(nodesOf(flows.get('main')!)).toEqual([{ type: 'handlebars', config: { template: 'Bye {{in.user}}', parameters: {}, state: [] }, next: undefined }]);
    expect(problems).toEqual([
      'tenants/shop/flows/other.ygtc: nodes.call.component.exec: unknown component type "weather" (tenant "shop" can use: ask, branch, handlebars, reply)',
      'tenants/shop/flows/ungranted.ygtc: nodes.b.component.exec: component "branch" is not granted to tenant "shop" (grants.components)',
    ]);
  });

  it('refuses, with the path: unknown keys, two operations, a route to nowhere, two routes, a template with a helper of its own', async () => {
    const { problems } = await shopFlows({
      'a.ygtc': 'id: a\ntype: messaging\nowner: bigcorp\nnodes:\n  n: { emit.response: { text: hi } }\n',
      'b.ygtc': 'id: b\ntype: messaging\nnodes:\n  n:\n    emit.response: { text: hi }\n    qa.process: { welcome: hi }\n',
      'c.ygtc': 'id: c\ntype: messaging\nnodes:\n  n:\n    emit.response: { text: hi }\n    routing: [{ to: nowhere }]\n',
      'd.ygtc': 'id: d\ntype: messaging\nnodes:\n  n:\n    emit.response: { text: hi }\n    routing: [{ to: n }, { to: n }]\n',
      'e.ygtc': 'id: e\ntype: messaging\nnodes:\n  n:\n    emit.response: { text: "{{shout in.text}} {{> secrets}}" }\n',
    });
    expect(problems).toEqual([
      'tenants/shop/flows/a.ygtc: owner: unknown key',
      'tenants/shop/flows/b.ygtc: nodes.n: a node has one operation key, this one has emit.response, qa.process',
      'tenants/shop/flows/c.ygtc: nodes.n.routing[0]: no node "nowhere" in this flow',
      'tenants/shop/flows/d.ygtc: nodes.n.routing: one route per node: this host has no conditional routing in .ygtc flows',
      'tenants/shop/flows/e.ygtc: nodes.n.emit.response.text: helper "shout" does not exist here (only if, unless, each, with, lookup)',
    ]);
  });
});

describe('template checks', () => {
  it('any text: a verdict, never a throw', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('{', '}', '#', '/', '>', ' ', 'a', '.', 'in', 'state', '"', '!', '^', 'each', '@', '~', '&', '=') }),
        (text) => {
          const r = checkTemplate(text);
          expect(typeof r.ok).toBe('boolean');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads from the allowed roots only; the state keys it reads are listed once', () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('in', 'parameters', 'state', 'nodes', 'prev', 'constructor', '__proto__'), key), { minLength: 1, maxLength: 5 }),
        (paths) => {
          const r = checkTemplate(paths.map(([root, k]) => `{{${root}.${k}}}`).join(' '));
          const allowed = paths.every(([root]) => ['in', 'parameters', 'state'].includes(root));
          expect(r.ok).toBe(allowed);
          if (r.ok) expect(r.stateKeys).toEqual([...new Set(paths.filter(([root]) => root === 'state').map(([, k]) => k))]);
        },
      ),
      { numRuns: 500 },
    );
  });
});
