import { createRequire } from 'node:module';
import { isValidId } from '../../tenancy/ids.js';

/**
 * A `.ygtc` template checked when its flow loads, by Handlebars' own parser (no code runs): what
 * it reads must be something the built-in `handlebars` component gives it (`in.*`, `parameters.*`,
 * `state.<key>`), its helpers Handlebars' built-ins, no partials or decorators. Returns the state
 * keys it reads (the component reads just those), or why it cannot be rendered here.
 */

const HELPERS = new Set(['if', 'unless', 'each', 'with', 'lookup']);
const ROOTS = new Set(['in', 'parameters', 'state']);

// Handlebars (CommonJS) is read when the first .ygtc template is checked, not at every start.
const require = createRequire(import.meta.url);
let handlebars: typeof import('handlebars') | undefined;

type Node = { type: string; [k: string]: unknown };
type PathNode = { type: 'PathExpression'; original: string; parts: string[]; data: boolean; head?: unknown };

/** The state keys `template` reads, or the first reason it cannot be rendered by the handlebars component. */
export function checkTemplate(template: string): { ok: true; stateKeys: string[] } | { ok: false; why: string } {
  let ast: Node;
  try {
    ast = (handlebars ??= require('handlebars') as typeof import('handlebars')).parse(template) as unknown as Node;
  } catch (e) {
    return { ok: false, why: `not a Handlebars template: ${(e as Error).message.split('\n').slice(0, 2).join(' ').slice(0, 200)}` };
  }
  const keys = new Set<string>();
  let why: string | undefined;
  const fail = (w: string) => {
    why ??= w;
  };
  // Outside a block, a path starts at the view's root; inside one it is relative to the block's context.
  const path = (p: PathNode, top: boolean) => {
    if (p.data) return; // @index, @key, @root...: Handlebars' own data
    const [root, key] = p.parts;
    if (root === 'state' && top) {
      if (key === undefined || !isValidId(key)) fail(`"{{${p.original}}}" reads state without a key of the id grammar`);
      else keys.add(key);
      return;
    }
    if (top && p.original !== 'this' && !ROOTS.has(root ?? '')) {
      fail(`"{{${p.original}}}" is not something a template can read here: it reads in.* (the message), parameters.* and state.<key>`);
    }
  };
  const expr = (n: Node, top: boolean) => {
    if (n.type === 'PathExpression') path(n as unknown as PathNode, top);
    else if (n.type === 'SubExpression') call(n, top);
  };
  const call = (n: Node, top: boolean) => {
    const params = (n.params as Node[] | undefined) ?? [];
    const hash = ((n.hash as { pairs?: Array<{ value: Node }> } | undefined)?.pairs ?? []).map((p) => p.value);
    const p = n.path as Node;
    if (params.length > 0 || hash.length > 0 || n.type === 'SubExpression') {
      const name = p.type === 'PathExpression' ? (p as unknown as PathNode).original : String(p.type);
      if (!HELPERS.has(name)) fail(`helper "${name}" does not exist here (only ${[...HELPERS].join(', ')})`);
    } else expr(p, top);
    for (const x of [...params, ...hash]) expr(x, top);
  };
  const walk = (program: Node | undefined, top: boolean) => {
    for (const s of (program?.body as Node[] | undefined) ?? []) {
      if (s.type === 'MustacheStatement') call(s, top);
      else if (s.type === 'BlockStatement') {
        call(s, top);
        walk(s.program as Node | undefined, false);
        walk(s.inverse as Node | undefined, false);
      } else if (s.type === 'PartialStatement' || s.type === 'PartialBlockStatement') fail('partials ({{> name}}) are not available here');
      else if (s.type === 'DecoratorBlock' || s.type === 'Decorator') fail('decorators are not available here');
    }
  };
  walk(ast, true);
  return why === undefined ? { ok: true, stateKeys: [...keys] } : { ok: false, why };
}
