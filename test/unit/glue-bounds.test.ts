import { transpileBytes } from '@bytecodealliance/jco-transpile';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { boundGlue, GlueBoundsError } from '../../dist/components/glue-bounds.js';
import { glueBounds, MAX_LIVE_HANDLES, ValueBudget, ValueLimitError } from '../../dist/sandbox/value-budget.js';
import { fixtureWasm } from '../support/bundle.js';

const HEAD = 'export function instantiate(getCoreModule, imports, instantiateCore = WebAssembly.instantiate) {';

async function glueOf(fixture: string): Promise<string> {
  const out = await transpileBytes(readFileSync(fixtureWasm(fixture)), { name: 'component', instantiation: 'async' });
  return new TextDecoder().decode(out.files['component.js']);
}

describe("rewriting jco's glue so that everything it lifts is charged", () => {
  it.each([['hog-glue'], ['greentic-js'], ['wasi-env']])('routes every lift of %s through $bounds, and leaves none', async (fixture) => {
    const plain = await glueOf(fixture);
    expect(plain).toMatch(/TEXT_DECODER_UTF8\.decode\(/);
    const bounded = boundGlue(plain);
    expect(bounded).not.toMatch(/TEXT_DECODER_UTF8\.decode\(|memory\d+\.buffer\.slice\(|_createdReps\.add\(/);
    expect(bounded).toContain(`${HEAD}\n  const $bounds = imports["@greentic-host/glue-bounds"];`);
    expect(bounded).toMatch(/for \(let i = \$bounds\.items\(len\d+\); i < len\d+; i\+\+\)/);
  });

  it('refuses glue it does not know rather than run it unbounded', () => {
    expect(() => boundGlue('export function other() {}')).toThrowError(new GlueBoundsError(`the transpiled glue has no "${HEAD}"; this host cannot bound it`));
    expect(() => boundGlue(`${HEAD}\n const s = NEW_DECODER.decode(view);\n}`)).toThrowError(
      new GlueBoundsError('the transpiled glue lifts guest values in a way this host does not know (NEW_DECODER.decode(); it cannot bound them'),
    );
    expect(() => boundGlue(`${HEAD}\n for (let j = 0; j < len3; j++) {}\n}`)).toThrowError(
      new GlueBoundsError('the transpiled glue lifts guest values in a way this host does not know (for (let j = 0; j < len3;); it cannot bound them'),
    );
    expect(() => boundGlue(`${HEAD}\n function rscTableCreateOwn(table, rep) { return 1; }\n}`)).toThrowError(
      new GlueBoundsError('the transpiled glue creates resource handles in a way this host does not know; it cannot bound them'),
    );
  });
});

describe("a call's value budget", () => {
  it('charges bytes and elements, and refuses past either with the key that sets it', () => {
    const b = new ValueBudget('hog', 10, 3);
    b.bytes(10);
    expect(() => b.bytes(1)).toThrowError(
      new ValueLimitError('component "hog" handed the host more than 10 bytes of strings and lists in one call (settings.limits.max_value_bytes)'),
    );
    b.items(3);
    expect(() => b.items(1)).toThrowError(
      new ValueLimitError('component "hog" handed the host lists of more than 3 elements in one call (settings.limits.max_value_items)'),
    );
    // Once past, every later charge fails too, even of nothing: a guest that swallowed the error cannot go on.
    expect(() => b.bytes(0)).toThrowError(ValueLimitError);
  });

  it('decodes what the glue hands it, and bounds live handles of one type', () => {
    const budget = new ValueBudget('hog', 100, 100);
    const bounds = glueBounds(() => budget);
    expect(bounds.text(new TextEncoder().encode('héllo'))).toBe('héllo');
    expect(new Uint8Array(bounds.slice(Uint8Array.of(1, 2, 3, 4).buffer, 1, 3))).toEqual(Uint8Array.of(2, 3));
    const FLAG = 1 << 30;
    const table = [FLAG, 0];
    for (let i = 1; i <= MAX_LIVE_HANDLES; i++) expect(bounds.createOwn(table, i, FLAG)).toBe(i);
    expect(() => bounds.createOwn(table, 0, FLAG)).toThrowError(new ValueLimitError('component "hog" holds more than 1000 live resource handles of one type'));
  });
});
