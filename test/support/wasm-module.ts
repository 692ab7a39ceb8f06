/**
 * A small encoder of core module binaries for tests: modules declaring chosen counts and sizes of
 * memories, tables, globals, functions and segments, valid for V8 (one memory at most, for Node
 * 20), so a test can say exactly what a module declares and check what the host reads from it.
 */

/** What a generated module declares. */
export interface ModuleSpec {
  readonly memories?: ReadonlyArray<{ min: number; max?: number }>;
  readonly tables?: ReadonlyArray<{ min: number; max?: number; ref?: 'funcref' | 'externref' }>;
  readonly globals?: number;
  /** Functions `() -> ()` with empty bodies. */
  readonly functions?: number;
  /** Sizes of passive data segments. */
  readonly dataSegments?: readonly number[];
  /** Element counts of passive element segments (each entry function 0; needs functions >= 1). */
  readonly elementSegments?: readonly number[];
  /** Imported functions `() -> ()` from module "m". */
  readonly imports?: number;
  /** Exported functions (each exports function 0). */
  readonly exports?: number;
  readonly tags?: number;
}

/** LEB128 of an unsigned number. */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => [...leb(s.length), ...Buffer.from(s)];
const limits = (min: number, max?: number): number[] => (max === undefined ? [0x00, ...leb(min)] : [0x01, ...leb(min), ...leb(max)]);
const repeat = (n: number, item: number[]): number[][] => Array.from({ length: n }, () => item);

export const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** The binary of a module declaring what `spec` says. */
export function coreModule(spec: ModuleSpec): Uint8Array {
  const fns = spec.functions ?? 0;
  const out = [...PREAMBLE];
  // type 0: () -> ()
  out.push(...section(1, vec([[0x60, 0x00, 0x00]])));
  if (spec.imports) out.push(...section(2, vec(Array.from({ length: spec.imports }, (_, i) => [...name('m'), ...name(`f${i}`), 0x00, 0x00]))));
  if (fns) out.push(...section(3, vec(repeat(fns, [0x00]))));
  if (spec.tables?.length) out.push(...section(4, vec(spec.tables.map((t) => [t.ref === 'externref' ? 0x6f : 0x70, ...limits(t.min, t.max)]))));
  if (spec.memories?.length) out.push(...section(5, vec(spec.memories.map((m) => limits(m.min, m.max)))));
  if (spec.tags) out.push(...section(13, vec(repeat(spec.tags, [0x00, 0x00]))));
  if (spec.globals) out.push(...section(6, vec(repeat(spec.globals, [0x7f, 0x01, 0x41, 0x00, 0x0b]))));
  if (spec.exports) out.push(...section(7, vec(Array.from({ length: spec.exports }, (_, i) => [...name(`e${i}`), 0x00, ...leb(spec.imports ?? 0)]))));
  if (spec.elementSegments?.length)
    out.push(...section(9, vec(spec.elementSegments.map((n) => [0x01, 0x00, ...leb(n), ...repeat(n, leb(spec.imports ?? 0)).flat()]))));
  if (spec.dataSegments?.length) out.push(...section(12, leb(spec.dataSegments.length)));
  if (fns) out.push(...section(10, vec(repeat(fns, [0x02, 0x00, 0x0b]))));
  if (spec.dataSegments?.length) out.push(...section(11, vec(spec.dataSegments.map((n) => [0x01, ...leb(n), ...new Array<number>(n).fill(0x2a)]))));
  return Uint8Array.from(out);
}
