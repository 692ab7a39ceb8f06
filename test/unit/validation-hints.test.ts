// Validation reports each root cause once, with paths that name nodes by id, and offers "did
// you mean" only for close misspellings of node, flow and component names.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComponentCatalog } from '../../dist/components/catalog.js';
import { loadTenantFlows } from '../../dist/flow/loader.js';
import { BUILTIN_BUILD_DIR, BUILTIN_SOURCE_DIR } from '../../dist/paths.js';
import { loadWorkspace } from '../../dist/tenancy/config/load.js';
import { formatProblem } from '../../dist/tenancy/config/problems.js';
import { closest, didYouMean, editDistance } from '../../dist/tenancy/config/suggest.js';
import { copyExamples, writeFiles } from '../support/bundle.js';

const builtins = { sourceDir: BUILTIN_SOURCE_DIR, buildDir: BUILTIN_BUILD_DIR };
const bundle = copyExamples();
afterAll(() => bundle.cleanup());
const SALES = 'tenants/acme/flows/acme_sales_flow.yaml';
const GRANTS = { reply: null, ask: null, branch: { teams: ['support'] } };
let base: Record<string, string>;

beforeAll(async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  base = Object.fromEntries([SALES, 'tenants/acme/tenant.yaml', 'tenants/acme/teams/support.yaml'].map((f) => [f, readFileSync(join(bundle.dir, f), 'utf8')]));
});

/** acme's problems with `files` written over the example (the rest as shipped), formatted. */
async function acmeProblems(files: Record<string, string | object>): Promise<string[]> {
  writeFiles(bundle.dir, { ...base, ...files });
  const ws = await loadWorkspace(bundle.dir);
  const acme = ws.tenants.get('acme')!;
  const catalog = await ComponentCatalog.load(builtins, ws);
  const { problems } = await loadTenantFlows(acme, catalog);
  return problems.map((p) => formatProblem({ ...p, file: p.file.replace(/^.*?(tenants\/)/, '$1') }));
}

const sales = (nodes: object[], extra: object = {}) => ({ [SALES]: { name: 'acme_sales_flow', version: '1', ...extra, nodes } });
const tenantWith = (components: object) => ({
  'tenants/acme/tenant.yaml': { tenant: { id: 'acme' }, environments: [{ id: 'prod' }, { id: 'staging' }], grants: { components } },
});

describe('flow problems: one per root cause, nodes named by id, close names suggested', () => {
  const cases: Array<[string, Record<string, string | object>, string[]]> = [
    [
      'a misspelt next',
      sales([
        { id: 'greet', type: 'reply', config: { message: 'hi' }, next: 'thnks' },
        { id: 'thanks', type: 'reply', config: { message: 'bye' } },
      ]),
      [`${SALES}: nodes.greet.next: no node "thnks" in this flow (did you mean "thanks"?)`],
    ],
    [
      'a misspelt route target and start',
      sales([{ id: 'greet', type: 'reply', config: { message: 'hi' }, routes: [{ when: 'x', to: 'gret' }] }], { start: 'greett' }),
      [
        `${SALES}: start: no node "greett" in this flow (did you mean "greet"?)`,
        `${SALES}: nodes.greet.routes[0].to: no node "gret" in this flow (did you mean "greet"?)`,
      ],
    ],
    [
      'a name nothing is close to: no hint',
      sales([{ id: 'greet', type: 'reply', config: { message: 'hi' }, next: 'farewell' }]),
      [`${SALES}: nodes.greet.next: no node "farewell" in this flow`],
    ],
    [
      'a misspelt component type',
      sales([{ id: 'greet', type: 'repyl', config: { message: 'hi' } }]),
      [`${SALES}: nodes.greet.type: unknown component type "repyl" (did you mean "reply"?)`],
    ],
    [
      'an unknown component type with nothing close lists what the tenant can use',
      sales([{ id: 'greet', type: 'translator', config: { message: 'hi' } }]),
      [`${SALES}: nodes.greet.type: unknown component type "translator" (tenant "acme" can use: ask, branch, handlebars, reply)`],
    ],
    [
      "a node's config against its schema is named by the node's id",
      sales([{ id: 'greet', type: 'reply', config: { mesage: 'hi' } }]),
      [`${SALES}: nodes.greet.config.message: Invalid input: expected string, received undefined`, `${SALES}: nodes.greet.config.mesage: unknown key`],
    ],
    [
      'a schema error (before ids are checked) is named by the id too',
      sales([{ id: 'greet', type: 'reply', config: { message: 'hi' }, nxt: 'x' }]),
      [`${SALES}: nodes.greet.nxt: unknown key`],
    ],
    [
      'a duplicated id keeps its index (the id does not name one node)',
      sales([
        { id: 'greet', type: 'reply', config: { message: 'a' } },
        { id: 'greet', type: 'reply', config: { message: 'b' } },
      ]),
      [`${SALES}: nodes[1].id: node "greet" is defined twice`],
    ],
    [
      'a misspelt grant is the one root cause: the flows that use the component do not echo it',
      tenantWith({ replyy: null, ask: null, branch: { teams: ['support'] } }),
      ['tenants/acme/tenant.yaml: grants.components.replyy: no component "replyy" (did you mean "reply"?)'],
    ],
    [
      'a missing grant is reported once per flow, naming the other nodes that use it',
      tenantWith({ ask: null, branch: { teams: ['support'] } }),
      [
        `${SALES}: nodes.thanks.type: component "reply" is not granted to tenant "acme" (grants.components)`,
        'tenants/acme/flows/acme_support_flow.yaml: nodes.greet.type: component "reply" is not granted to tenant "acme" (grants.components); nodes billing_done, account_done, other_done use it too',
      ],
    ],
  ];
  it.each(cases)('%s', async (_what, files, expected) => {
    expect(await acmeProblems(files)).toEqual(expected);
  });

  it('a channel naming a misspelt flow', async () => {
    const team = base['tenants/acme/teams/support.yaml']!.replace('  slack:\n', '  slack:\n    flow: acme_suport_flow\n');
    expect(await acmeProblems({ 'tenants/acme/teams/support.yaml': team, 'tenants/acme/tenant.yaml': tenantWith(GRANTS)['tenants/acme/tenant.yaml'] })).toEqual(
      ['tenants/acme/teams/support.yaml: channels.slack.flow: tenant "acme" has no flow "acme_suport_flow" (did you mean "acme_support_flow"?)'],
    );
  });
});

describe('closest: only close matches', () => {
  it.each([
    ['gret', ['greet', 'thanks'], 'greet'],
    ['thnks', ['greet', 'thanks'], 'thanks'],
    ['rpely', ['reply', 'ask'], 'reply'],
    ['ak', ['ask', 'branch'], 'ask'],
    ['x', ['ask', 'y'], undefined],
    ['farewell', ['greet', 'thanks'], undefined],
    ['greet', ['greet'], undefined],
    ['', ['a'], undefined],
  ])('closest(%j, %j) is %j', (name, candidates, expected) => {
    expect(closest(name, candidates)).toBe(expected);
  });

  it('never suggests a name more than one edit per three characters away, or the name itself', () => {
    const id = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/);
    fc.assert(
      fc.property(id, fc.array(id, { maxLength: 20 }), (name, candidates) => {
        const near = closest(name, candidates);
        if (near === undefined) return;
        expect(near).not.toBe(name);
        expect(candidates).toContain(near);
        expect(editDistance(name, near)).toBeLessThanOrEqual(Math.max(1, Math.floor(name.length / 3)));
        expect(didYouMean(name, candidates)).toBe(` (did you mean ${JSON.stringify(near)}?)`);
      }),
    );
  });

  it('one typo (a letter changed, dropped, added or two swapped) in a name of 3 or more is found', () => {
    const typo = fc
      .tuple(fc.stringMatching(/^[a-z]{3,20}$/), fc.nat(), fc.constantFrom('change', 'drop', 'add', 'swap'))
      .map(([word, at, kind]) => {
        const i = at % word.length;
        const other = word[i] === 'q' ? 'z' : 'q';
        const typoed =
          kind === 'change'
            ? word.slice(0, i) + other + word.slice(i + 1)
            : kind === 'drop'
              ? word.slice(0, i) + word.slice(i + 1)
              : kind === 'add'
                ? word.slice(0, i) + other + word.slice(i)
                : i + 1 < word.length
                  ? word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2)
                  : word.slice(0, i) + other;
        return { word, typoed };
      })
      .filter(({ word, typoed }) => typoed !== word && typoed.length >= 3);
    fc.assert(
      fc.property(typo, ({ word, typoed }) => {
        expect(closest(typoed, [word])).toBe(word);
      }),
    );
  });

  it('is bounded: a 64-character limit, and 10,000 candidates answer at once', () => {
    expect(closest('a'.repeat(65), ['a'.repeat(64)])).toBeUndefined();
    const many = Array.from({ length: 10_000 }, (_, i) => `node_${i}`);
    expect(closest('node_9999x', many)).toBe('node_9999');
  });
});
