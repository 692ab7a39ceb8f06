// config.input of a Greentic node: the op input built from the message, state, config and earlier
// outputs by templates that run no code. Examples for the syntax and its errors; generated values
// and paths for the classes (a mapping without placeholders is itself; a path reads own keys only).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputMapping, MappingLimitError, MappingSyntaxError, MAX_MAPPED_BYTES, type MappingScope } from '../../dist/greentic/input-mapping.js';

const scope = (over: Partial<MappingScope> = {}): MappingScope => ({
  message: { text: 'hello there', user: 'u1', channel: 'webchat' },
  config: { lang: 'nl', depth: 3 },
  state: new Map([['city', 'Ghent']]),
  prev: { text: 'earlier', items: [{ id: 'a' }, { id: 'b' }] },
  nodes: new Map([['lookup', { score: 0.5 }]]),
  ctx: { tenant: 'acme', env: 'prod', team: 'support', user: 'u1', session: 's1' },
  resumed: false,
  ...over,
});
const render = (mapping: unknown, s: MappingScope = scope()) => InputMapping.parse(mapping).render(s);
const syntaxError = (mapping: unknown): string => {
  try {
    InputMapping.parse(mapping);
  } catch (e) {
    expect(e).toBeInstanceOf(MappingSyntaxError);
    return (e as Error).message;
  }
  throw new Error('expected a syntax error');
};

describe('config.input templates', () => {
  it('a whole-string placeholder is the value itself; text around placeholders makes text', () => {
    expect(
      render({
        text: '{{in.text}}',
        greeting: 'Hi {{ctx.user}} of {{ctx.tenant}}: {{message.text}}',
        items: '{{prev.items}}',
        second: '{{prev.items.1.id}}',
        depth: '{{config.depth}}',
        city: '{{state.city}}',
        score: '{{nodes.lookup.score}}',
        resumed: '{{resumed}}',
        asText: 'items={{prev.items}}',
        fixed: [1, true, null, 'plain'],
      }),
    ).toEqual({
      text: 'hello there',
      greeting: 'Hi u1 of acme: hello there',
      items: [{ id: 'a' }, { id: 'b' }],
      second: 'b',
      depth: 3,
      city: 'Ghent',
      score: 0.5,
      resumed: false,
      asText: 'items=[{"id":"a"},{"id":"b"}]',
      fixed: [1, true, null, 'plain'],
    });
    expect(render('{{in}}')).toEqual({ text: 'hello there', user: 'u1', channel: 'webchat' });
    expect(render('{{state}}')).toEqual({ city: 'Ghent' });
  });

  it('what is missing is null (empty in text), and a quoted literal writes braces', () => {
    expect(render({ a: '{{state.nope}}', b: 'x{{prev.items.9.id}}y', c: '{{ "{{" }}not a placeholder}}', d: '{{prev.text.length}}' })).toEqual({
      a: null,
      b: 'xy',
      c: '{{not a placeholder}}',
      d: null,
    });
  });

  it('reads own keys only: prototype names are missing, and a "__proto__" key of the mapping stays a key', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(render(`{{config.${name}}}`)).toBeNull();
      expect(render(`{{prev.${name}}}`)).toBeNull();
      expect(render(`{{state.${name}}}`)).toBeNull();
      expect(render(`{{nodes.${name}}}`)).toBeNull();
    }
    const built = render(JSON.parse('{"__proto__": {"polluted": "{{in.text}}"}}')) as Record<string, unknown>;
    expect(Object.hasOwn(built, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses what is not a placeholder, naming where in config.input', () => {
    expect(syntaxError({ a: ['ok', 'x {{in.text'] })).toBe('config.input.a[1]: "{{" at character 2 has no closing "}}"');
    expect(syntaxError({ a: '{{process.env}}' })).toBe(
      'config.input.a: "{{process.env}}" starts with "process"; a placeholder starts with one of in, message, config, state, prev, nodes, ctx, resumed',
    );
    expect(syntaxError('{{in.text()}}')).toBe('config.input: "{{in.text()}}": "text()" is not a key (^[A-Za-z0-9_-]+$) or an index');
    expect(syntaxError('{{ }}')).toBe('config.input: an empty placeholder "{{}}"');
    expect(syntaxError('{{ "unterminated }}')).toBe('config.input: "{{" at character 0 has no closing "}}"');
    expect(syntaxError(`{{in${'.a'.repeat(33)}}}`)).toBe(`config.input: "{{in${'.a'.repeat(19)}...}}" has more than 32 segments`);
    expect(syntaxError('{{in.text}}'.repeat(1001))).toBe('config.input: more than 1000 placeholders in one mapping');
  });

  it('bounds what a mapping builds', () => {
    const big = 'x'.repeat(MAX_MAPPED_BYTES / 4);
    const m = InputMapping.parse(['{{state.big}}', '{{state.big}}', '{{state.big}}', '{{state.big}}', '{{state.big}}']);
    expect(() => m.render(scope({ state: new Map([['big', big]]) }))).toThrow(
      new MappingLimitError(`the input config.input builds is larger than ${MAX_MAPPED_BYTES} bytes`),
    );
  });
});

describe('config.input by generated values', () => {
  const key = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
  const noBraces = fc.string({ maxLength: 20 }).filter((s) => !s.includes('{{'));
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      noBraces,
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(key, tie('value'), { maxKeys: 4 }),
    ),
  })).value;

  it('a mapping without placeholders renders as itself', () => {
    fc.assert(
      fc.property(json, (v) => {
        expect(render(v)).toEqual(v);
      }),
    );
  });

  it('a path into prev reads exactly the value at that path, and a path off it is null', () => {
    const tree = fc.dictionary(key, json, { minKeys: 1, maxKeys: 5 });
    fc.assert(
      fc.property(tree, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), key, (prev, picks, stray) => {
        let v: unknown = prev;
        const path: string[] = [];
        for (const p of picks) {
          if (Array.isArray(v) && v.length > 0) {
            const i = p % v.length;
            path.push(String(i));
            v = v[i];
          } else if (typeof v === 'object' && v !== null && Object.keys(v).length > 0) {
            const k = Object.keys(v)[p % Object.keys(v).length]!;
            path.push(k);
            v = (v as Record<string, unknown>)[k];
          } else break;
        }
        const s = scope({ prev });
        expect(render(`{{prev.${path.join('.')}}}`, s)).toEqual(v);
        // The stray segment may happen to name something there: a key of an object, an index of a list.
        const there = Array.isArray(v) ? /^\d+$/.test(stray) && Number(stray) < v.length : typeof v === 'object' && v !== null && Object.hasOwn(v, stray);
        if (!there) expect(render(`{{prev.${[...path, stray].join('.')}}}`, s)).toBeNull();
      }),
    );
  });
});
