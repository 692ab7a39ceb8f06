/**
 * A node's op input built from the message, the session state, the node's config and the outputs
 * of earlier nodes of the turn: `config.input` of a Greentic node, a JSON value whose strings are
 * templates. No code runs: a placeholder is a path into a fixed set of roots, or a quoted string.
 *
 *   "{{message.text}}"           the whole string is one placeholder: the value itself (any JSON type)
 *   "Hi {{ctx.user}}, {{in.text}}"  text around placeholders: values written as text (maps and lists as JSON)
 *   "{{ \"{{\" }}"               a JSON string literal: a literal "{{"
 *
 * Roots: `in` and `message` (the user's message: text, user, channel), `config` (the node's
 * config without `op` and `input`), `state` (the session's working memory), `prev` (the output of
 * the node that ran before this one in the turn), `nodes.<id>` (the output of an earlier node of
 * the turn), `ctx` (tenant, env, team, user, session of the bound scope), `resumed`. A path
 * segment is a key (`[A-Za-z0-9_-]+`) or a list index; keys are looked up as own properties only,
 * and what is missing is null (empty in text). The built input is at most MAX_MAPPED_BYTES.
 */

/** Roots a placeholder may start with. */
export const MAPPING_ROOTS = ['in', 'message', 'config', 'state', 'prev', 'nodes', 'ctx', 'resumed'] as const;
type Root = (typeof MAPPING_ROOTS)[number];

/** Largest input a mapping may build (JSON bytes, about). */
export const MAX_MAPPED_BYTES = 4 * 1024 * 1024;
/** Placeholders one mapping may hold, and segments one path may have. */
export const MAX_PLACEHOLDERS = 1000;
export const MAX_PATH_SEGMENTS = 32;
/** Nesting of the mapping value itself. */
const MAX_DEPTH = 64;

/** What a mapping reads from. */
export interface MappingScope {
  readonly message: { readonly text: string; readonly user: string; readonly channel: string };
  readonly config: Record<string, unknown>;
  readonly state: ReadonlyMap<string, string>;
  readonly prev: unknown;
  readonly nodes: ReadonlyMap<string, unknown>;
  readonly ctx: { readonly tenant: string; readonly env: string; readonly team: string | null; readonly user: string; readonly session: string };
  readonly resumed: boolean;
}

/** A mapping that does not parse; `path` is where in `config.input` (".a[0]"), `message` says why. */
export class MappingSyntaxError extends Error {
  override readonly name = 'MappingSyntaxError';
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`config.input${path}: ${why}`);
  }
}

/** A built input over MAX_MAPPED_BYTES. */
export class MappingLimitError extends Error {
  override readonly name = 'MappingLimitError';
}

type Expr = { kind: 'path'; root: Root; segments: string[] } | { kind: 'literal'; text: string };
type Part = string | Expr;
type Node =
  | { kind: 'value'; value: unknown }
  | { kind: 'whole'; expr: Expr }
  | { kind: 'text'; parts: Part[] }
  | { kind: 'list'; items: Node[] }
  | { kind: 'map'; entries: Array<[string, Node]> };

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** A parsed `config.input`. */
export class InputMapping {
  private constructor(private readonly root: Node) {}

  /** Parse a mapping; throws MappingSyntaxError naming where. */
  static parse(value: unknown): InputMapping {
    const count = { n: 0 };
    return new InputMapping(parseNode(value, '', 0, count));
  }

  /** Build the input for one call; throws MappingLimitError past MAX_MAPPED_BYTES. */
  render(scope: MappingScope): unknown {
    const budget = { left: MAX_MAPPED_BYTES };
    return renderNode(this.root, scope, budget);
  }
}

function parseNode(v: unknown, path: string, depth: number, count: { n: number }): Node {
  if (depth > MAX_DEPTH) throw new MappingSyntaxError(path, `nests deeper than ${MAX_DEPTH} levels`);
  if (typeof v === 'string') return parseString(v, path, count);
  if (Array.isArray(v)) return { kind: 'list', items: v.map((x, i) => parseNode(x, `${path}[${i}]`, depth + 1, count)) };
  if (typeof v === 'object' && v !== null) {
    return { kind: 'map', entries: Object.entries(v).map(([k, x]) => [k, parseNode(x, `${path}.${k}`, depth + 1, count)] as [string, Node]) };
  }
  return { kind: 'value', value: v };
}

function parseString(s: string, path: string, count: { n: number }): Node {
  const parts: Part[] = [];
  let at = 0;
  while (at < s.length) {
    const open = s.indexOf('{{', at);
    if (open < 0) {
      parts.push(s.slice(at));
      break;
    }
    if (open > at) parts.push(s.slice(at, open));
    const close = closingBraces(s, open + 2);
    if (close < 0) throw new MappingSyntaxError(path, `"{{" at character ${open} has no closing "}}"`);
    if (++count.n > MAX_PLACEHOLDERS) throw new MappingSyntaxError(path, `more than ${MAX_PLACEHOLDERS} placeholders in one mapping`);
    parts.push(parseExpr(s.slice(open + 2, close).trim(), path));
    at = close + 2;
  }
  if (parts.length === 1 && typeof parts[0] !== 'string') return { kind: 'whole', expr: parts[0]! };
  if (parts.every((p) => typeof p === 'string')) return { kind: 'value', value: s };
  return { kind: 'text', parts };
}

/** Where the "}}" closing a placeholder opened before `from` is, skipping a quoted literal. */
function closingBraces(s: string, from: number): number {
  let i = from;
  while (i < s.length && s[i] === ' ') i++;
  if (s[i] === '"') {
    for (i++; i < s.length; i++) {
      if (s[i] === '\\') i++;
      else if (s[i] === '"') break;
    }
  }
  return s.indexOf('}}', i);
}

function parseExpr(text: string, path: string): Expr {
  if (text.startsWith('"')) {
    try {
      const lit: unknown = JSON.parse(text);
      if (typeof lit === 'string') return { kind: 'literal', text: lit };
    } catch {
      // reported below
    }
    throw new MappingSyntaxError(path, `${JSON.stringify(text.slice(0, 40))} is not a quoted string`);
  }
  if (text === '') throw new MappingSyntaxError(path, 'an empty placeholder "{{}}"');
  const [root, ...segments] = text.split('.');
  if (!(MAPPING_ROOTS as readonly string[]).includes(root!)) {
    throw new MappingSyntaxError(
      path,
      `"{{${text.slice(0, 40)}}}" starts with ${JSON.stringify(root!.slice(0, 40))}; a placeholder starts with one of ${MAPPING_ROOTS.join(', ')}`,
    );
  }
  if (segments.length > MAX_PATH_SEGMENTS) throw new MappingSyntaxError(path, `"{{${text.slice(0, 40)}...}}" has more than ${MAX_PATH_SEGMENTS} segments`);
  const bad = segments.find((s) => !SEGMENT.test(s));
  if (bad !== undefined)
    throw new MappingSyntaxError(path, `"{{${text.slice(0, 40)}}}": ${JSON.stringify(bad.slice(0, 40))} is not a key (${SEGMENT.source}) or an index`);
  return { kind: 'path', root: root as Root, segments };
}

function renderNode(n: Node, scope: MappingScope, budget: { left: number }): unknown {
  switch (n.kind) {
    case 'value':
      charge(budget, typeof n.value === 'string' ? n.value.length + 2 : 8);
      return n.value;
    case 'whole': {
      const v = evaluate(n.expr, scope);
      charge(budget, sizeOf(v, budget.left));
      return v;
    }
    case 'text': {
      let out = '';
      for (const p of n.parts) {
        const piece = typeof p === 'string' ? p : asText(evaluate(p, scope), budget.left);
        charge(budget, piece.length);
        out += piece;
      }
      return out;
    }
    case 'list':
      return n.items.map((x) => renderNode(x, scope, budget));
    case 'map':
      // fromEntries defines own properties: a "__proto__" key stays a key.
      return Object.fromEntries(n.entries.map(([k, x]) => (charge(budget, k.length + 4), [k, renderNode(x, scope, budget)])));
  }
}

function evaluate(e: Expr, scope: MappingScope): unknown {
  if (e.kind === 'literal') return e.text;
  let v: unknown;
  let rest = e.segments;
  switch (e.root) {
    case 'in':
    case 'message':
      v = scope.message;
      break;
    case 'config':
      v = scope.config;
      break;
    case 'prev':
      v = scope.prev;
      break;
    case 'ctx':
      v = scope.ctx;
      break;
    case 'resumed':
      v = scope.resumed;
      break;
    case 'state':
      if (rest.length === 0) return Object.fromEntries(scope.state);
      v = scope.state.get(rest[0]!);
      rest = rest.slice(1);
      break;
    case 'nodes':
      if (rest.length === 0) return Object.fromEntries(scope.nodes);
      v = scope.nodes.get(rest[0]!);
      rest = rest.slice(1);
      break;
  }
  for (const seg of rest) v = step(v, seg);
  return v === undefined ? null : v;
}

function step(v: unknown, seg: string): unknown {
  if (Array.isArray(v)) return /^\d+$/.test(seg) ? v[Number(seg)] : undefined;
  if (v instanceof Map) return v.get(seg);
  if (typeof v === 'object' && v !== null && Object.hasOwn(v, seg)) return (v as Record<string, unknown>)[seg];
  return undefined;
}

function asText(v: unknown, max: number): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (sizeOf(v, max) > max) throw overLimit();
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('base64') : x));
}

/** About how many bytes of JSON `v` is, counted without recursion; stops once past `max`. */
function sizeOf(v: unknown, max: number): number {
  let n = 0;
  const stack: unknown[] = [v];
  while (stack.length > 0 && n <= max) {
    const x = stack.pop();
    if (typeof x === 'string') n += x.length + 2;
    else if (x instanceof Uint8Array) n += Math.ceil(x.byteLength / 3) * 4 + 2;
    else if (Array.isArray(x)) {
      n += 2 + x.length;
      for (const y of x) stack.push(y);
    } else if (x instanceof Map) {
      n += 2;
      for (const [k, y] of x) {
        n += String(k).length + 4;
        stack.push(y);
      }
    } else if (typeof x === 'object' && x !== null) {
      n += 2;
      for (const [k, y] of Object.entries(x)) {
        n += k.length + 4;
        stack.push(y);
      }
    } else n += 8;
  }
  return n;
}

function charge(budget: { left: number }, n: number): void {
  budget.left -= n;
  if (budget.left < 0) throw overLimit();
}

function overLimit(): MappingLimitError {
  return new MappingLimitError(`the input config.input builds is larger than ${MAX_MAPPED_BYTES} bytes`);
}
