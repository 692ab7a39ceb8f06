import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { fixtureWasm } from './bundle.js';

/** The files one tenant can ship, each of which the corpus breaks in turn. */
export const FILE_KINDS = ['tenant.yaml', 'team', 'flow', 'manifest.yaml', 'component.manifest.json', 'component.sha256', 'wasm', 'public key'] as const;
export type FileKind = (typeof FILE_KINDS)[number];

/** One broken file: what it is and its bytes (or a directory / an oversized sparse file in its place). */
export interface BrokenFile {
  readonly kind: FileKind;
  readonly how: string;
  readonly content: Buffer | { readonly directory: true } | { readonly sparseBytes: number };
}

/** YAML whose aliases expand exponentially (a "billion laughs"). */
export function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++)
    lines.push(
      `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(',')}]`,
    );
  return `${lines.join('\n')}\n`;
}

/** A real component whose first import name has a byte that is not UTF-8 (lengths unchanged, so it still parses as sections). */
export function componentWithBadImportName(): Buffer {
  const bytes = Buffer.from(readFileSync(fixtureWasm('forger')));
  const at = bytes.indexOf('greentic:host/');
  if (at < 0) throw new Error('forger has no greentic:host import to break');
  bytes[at + 3] = 0xff;
  return bytes;
}

const text = (s: string) => Buffer.from(s);

/** Ways to break any text file, whatever its kind. */
const anyBroken = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => ({ how: 'random bytes', content: Buffer.from(b) })),
  fc.constant({ how: 'invalid UTF-8', content: Buffer.from([0x74, 0x65, 0xc3, 0x28, 0xff, 0xfe, 0x0a]) }),
  fc.constant({ how: 'empty', content: Buffer.alloc(0) }),
  fc.constant({ how: 'NUL bytes', content: Buffer.alloc(64) }),
  fc.constant({ how: 'a directory', content: { directory: true } as const }),
  fc.constant({ how: 'over the size limit', content: { sparseBytes: 2 * 1024 * 1024 } }),
  fc.constant({ how: 'huge text', content: text(`x: "${'y'.repeat(1024 * 1024)}"\n`) }),
);

/** Ways to break a YAML (or JSON) file. */
const yamlBroken = fc.oneof(
  anyBroken,
  fc.integer({ min: 6, max: 12 }).map((n) => ({ how: `alias bomb of ${n} levels`, content: text(aliasBomb(n)) })),
  fc.integer({ min: 70, max: 20_000 }).map((n) => ({ how: `${n} nested lists`, content: text(`${'['.repeat(n)}${']'.repeat(n)}\n`) })),
  fc
    .integer({ min: 70, max: 400 })
    .map((n) => ({ how: `${n} nested maps`, content: text(Array.from({ length: n }, (_, i) => `${'  '.repeat(i)}k:`).join('\n') + ' 1\n') })),
  fc
    .constantFrom(
      '42\n',
      '[1, 2]\n',
      '"text"\n',
      'true\n',
      '{ tenant: 7 }\n',
      'a: [\n',
      'a: {b: 1\n',
      '- : :\n',
      '__proto__: { x: 1 }\n',
      'a: 1\na: 2\n',
      '&a [*a]\n',
      '? [a, b]\n: c\n',
    )
    .map((s) => ({ how: `YAML ${JSON.stringify(s)}`, content: text(s) })),
  fc.json({ maxDepth: 4 }).map((s) => ({ how: 'wrong JSON shape', content: text(s) })),
);

/** Ways to break a component binary. */
const wasmBroken = fc.oneof(
  anyBroken,
  fc
    .integer({ min: 0, max: 2000 })
    .map((n) => ({ how: `a component truncated to ${n} bytes`, content: Buffer.from(readFileSync(fixtureWasm('forger'))).subarray(0, n) })),
  fc.constant({ how: 'import names that are not UTF-8', content: componentWithBadImportName() }),
  fc.constant({ how: 'a core module, not a component', content: Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]) }),
  fc.constant({ how: 'over the size limit', content: { sparseBytes: 300 * 1024 * 1024 } }),
  fc
    .uint8Array({ minLength: 8, maxLength: 200 })
    .map((b) => ({ how: 'a component header and garbage', content: Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), Buffer.from(b)]) })),
);

/** A broken file of `kind`. */
export function brokenFile(kind: FileKind): fc.Arbitrary<BrokenFile> {
  const pick = kind === 'wasm' ? wasmBroken : kind === 'component.sha256' || kind === 'public key' ? anyBroken : yamlBroken;
  return pick.map((b) => ({ kind, ...b }));
}

/** The cases issue 11 reproduced against main, always in the corpus: alias bombs and a component whose import names are not UTF-8. */
function reproduced(): BrokenFile[] {
  return [
    { kind: 'tenant.yaml', how: 'alias bomb of 10 levels', content: text(aliasBomb(10)) },
    { kind: 'flow', how: 'alias bomb of 10 levels', content: text(aliasBomb(10)) },
    { kind: 'wasm', how: 'import names that are not UTF-8', content: componentWithBadImportName() },
  ];
}

/** `count` broken files covering every kind (and the reproduced cases), the same for the same seed. */
export function brokenCorpus(count: number, seed: number): BrokenFile[] {
  return fc
    .sample(
      fc.constantFrom(...FILE_KINDS).chain((k) => brokenFile(k)),
      { numRuns: count, seed },
    )
    .concat(FILE_KINDS.map((k) => fc.sample(brokenFile(k), { numRuns: 1, seed: seed + 1 })[0]!))
    .concat(reproduced());
}
