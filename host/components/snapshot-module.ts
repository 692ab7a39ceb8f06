import { WasmReader } from './wasm-reader.js';

/**
 * The two rewrites of a core module that pre-initialization needs (what Wizer does, byte for
 * byte in the same way every time): `instrument` exports every defined global and memory so
 * their state can be read after the initialization function ran; `rewriteInitialized` writes
 * that state back as the module's initial state (globals' init values, memory minimum, data
 * segments) and drops what already ran (the start function, the init export, `_initialize`).
 * Only the import, memory, global, export, start, data count and data sections are read; the
 * code section is copied as it is.
 */

/** The module is not one these rewrites support; the message says what it has. */
export class SnapshotModuleError extends Error {
  override readonly name = 'SnapshotModuleError';
}

const fail = (m: string) => new SnapshotModuleError(`pre-initializer: ${m}`);
const SECTION = { custom: 0, import: 2, memory: 5, global: 6, export: 7, start: 8, data: 11, dataCount: 12 } as const;
/** Value types a snapshot can write back: i32, i64, f32, f64. */
const NUMERIC = new Map<number, GlobalKind>([
  [0x7f, 'i32'],
  [0x7e, 'i64'],
  [0x7d, 'f32'],
  [0x7c, 'f64'],
]);

/** Sections that come after the export section: start, element, data count, code, data. */
const AFTER_EXPORT = new Set([8, 9, 10, 11, 12]);

export type GlobalKind = 'i32' | 'i64' | 'f32' | 'f64';

/** What the instrumented module exports, and under which names. */
export interface Instrumented {
  readonly bytes: Uint8Array;
  /** The kind of each defined global, exported as `__wizer_global_{i}`. */
  readonly globals: readonly GlobalKind[];
  /** Defined memories, exported as `__wizer_memory_{i}`. */
  readonly memories: number;
}

/** The state read after initialization. */
export interface Snapshot {
  readonly globals: ReadonlyArray<number | bigint>;
  /** Each memory's size in pages, and its contents. */
  readonly memories: ReadonlyArray<{ readonly pages: number; readonly bytes: Uint8Array }>;
}

interface Section {
  readonly id: number;
  readonly at: number;
  readonly start: number;
  readonly end: number;
}

function sections(bytes: Uint8Array): Section[] {
  const r = new WasmReader(bytes, 0, bytes.length, fail);
  r.preamble('module');
  const out: Section[] = [];
  while (!r.done()) {
    const s = r.section();
    out.push(s);
    r.pos = s.end;
  }
  return out;
}

const find = (all: Section[], id: number) => all.find((s) => s.id === id);

/** Export every defined global and memory under the names Wizer uses. */
export function instrument(bytes: Uint8Array): Instrumented {
  const all = sections(bytes);
  refuseImportedState(bytes, find(all, SECTION.import));
  refusePassiveData(bytes, find(all, SECTION.data));
  const globals = globalKinds(bytes, find(all, SECTION.global));
  const memories = memoryCount(bytes, find(all, SECTION.memory));
  const added: Uint8Array[] = [];
  globals.forEach((_, i) => added.push(exportEntry(`__wizer_global_${i}`, 0x03, i)));
  for (let i = 0; i < memories; i++) added.push(exportEntry(`__wizer_memory_${i}`, 0x02, i));
  const exports = find(all, SECTION.export);
  const kept = exports ? exportEntries(bytes, exports) : [];
  const body = vec([...kept.map((e) => e.raw), ...added]);
  const out: Uint8Array[] = [bytes.subarray(0, 8)];
  let placed = false;
  for (const s of all) {
    // The export section goes where it belongs: in place, or before the first section that follows it.
    if (!placed && (s.id === SECTION.export || AFTER_EXPORT.has(s.id))) {
      out.push(section(SECTION.export, body));
      placed = true;
      if (s.id === SECTION.export) continue;
    }
    out.push(bytes.subarray(s.at, s.end));
  }
  if (!placed) out.push(section(SECTION.export, body));
  return { bytes: concat(out), globals, memories };
}

/** The module as it is after initialization: `snapshot` as its initial state, `initFunc` (and `_initialize`) no longer exported, no start function. */
export function rewriteInitialized(bytes: Uint8Array, snapshot: Snapshot, initFunc: string, dropInitialize: boolean): Uint8Array {
  const all = sections(bytes);
  const data = dataSection(snapshot);
  const out: Uint8Array[] = [bytes.subarray(0, 8)];
  let dataPlaced = false;
  const placeData = () => {
    if (!dataPlaced && data.count > 0) out.push(section(SECTION.data, data.body));
    dataPlaced = true;
  };
  for (const s of all) {
    switch (s.id) {
      case SECTION.memory:
        out.push(section(SECTION.memory, memorySection(bytes, s, snapshot)));
        break;
      case SECTION.global:
        out.push(section(SECTION.global, globalSection(bytes, s, snapshot)));
        break;
      case SECTION.export: {
        const keep = exportEntries(bytes, s).filter((e) => !(e.kind === 0x00 && (e.name === initFunc || (dropInitialize && e.name === '_initialize'))));
        out.push(section(SECTION.export, vec(keep.map((e) => e.raw))));
        break;
      }
      case SECTION.start:
        break;
      case SECTION.dataCount:
        out.push(section(SECTION.dataCount, u32(data.count)));
        break;
      case SECTION.data:
        placeData();
        break;
      default:
        // Some tools expect the name section last: the data goes before it.
        if (s.id === SECTION.custom && customName(bytes, s) === 'name') placeData();
        out.push(bytes.subarray(s.at, s.end));
    }
  }
  placeData();
  return concat(out);
}

/** Wizer's data segments: runs of non-zero bytes within each 64 KiB page, merged over gaps of at most 4 bytes, at most 10,000. */
export function dataSegments(memory: Uint8Array): Array<{ offset: number; length: number }> {
  const PAGE = 65_536;
  const runs: Array<{ offset: number; length: number }> = [];
  for (let page = 0; page < memory.length; page += PAGE) {
    const end = Math.min(page + PAGE, memory.length);
    let i = page;
    while (i < end) {
      while (i < end && memory[i] === 0) i++;
      if (i >= end) break;
      const start = i;
      while (i < end && memory[i] !== 0) i++;
      runs.push({ offset: start, length: i - start });
    }
  }
  const merged: Array<{ offset: number; length: number }> = [];
  for (const r of runs) {
    const last = merged[merged.length - 1];
    if (last && r.offset - (last.offset + last.length) <= 4) last.length = r.offset + r.length - last.offset;
    else merged.push({ ...r });
  }
  const MAX = 10_000;
  if (merged.length < MAX) return merged;
  // Merge across the smallest gaps (ties: the earlier gap first) until the count fits.
  const gaps = merged.slice(1).map((s, i) => ({ gap: s.offset - (merged[i]!.offset + merged[i]!.length), index: i }));
  gaps.sort((a, b) => a.gap - b.gap || a.index - b.index);
  const join = new Set(gaps.slice(0, merged.length - MAX).map((g) => g.index));
  const out: Array<{ offset: number; length: number }> = [];
  merged.forEach((s, i) => {
    const last = out[out.length - 1];
    if (last && join.has(i - 1)) last.length = s.offset + s.length - last.offset;
    else out.push({ ...s });
  });
  return out;
}

function dataSection(snapshot: Snapshot): { body: Uint8Array; count: number } {
  const parts: Uint8Array[] = [];
  snapshot.memories.forEach((m, index) => {
    for (const seg of dataSegments(m.bytes)) {
      const head = index === 0 ? [0x00] : [0x02, ...u32(index)];
      parts.push(
        concat([
          Uint8Array.from(head),
          Uint8Array.from([0x41]),
          s32(seg.offset | 0),
          Uint8Array.from([0x0b]),
          u32(seg.length),
          m.bytes.subarray(seg.offset, seg.offset + seg.length),
        ]),
      );
    }
  });
  return { body: vec(parts), count: parts.length };
}

function refuseImportedState(bytes: Uint8Array, s: Section | undefined): void {
  if (!s) return;
  const r = new WasmReader(bytes, s.start, s.end, fail);
  for (let n = r.u32(); n > 0; n--) {
    const module = r.name();
    const name = r.name();
    const kind = r.byte();
    if (kind === 0x00) r.u32();
    else
      throw fail(
        `the module imports ${['a function', 'a table', 'a memory', 'a global', 'a tag'][kind] ?? `kind ${kind}`} (${module}#${name}); only functions can be imported into a module that is pre-initialized`,
      );
  }
}

function refusePassiveData(bytes: Uint8Array, s: Section | undefined): void {
  if (!s) return;
  const r = new WasmReader(bytes, s.start, s.end, fail);
  for (let n = r.u32(); n > 0; n--) {
    const flags = r.u32();
    if (flags === 1) throw fail('the module has a passive data segment, which a snapshot cannot keep');
    if (flags === 2) r.u32();
    if (flags > 2) throw fail(`unknown data segment flags ${flags}`);
    skipConstExpr(r);
    r.vecBytes();
  }
}

function globalKinds(bytes: Uint8Array, s: Section | undefined): GlobalKind[] {
  if (!s) return [];
  const r = new WasmReader(bytes, s.start, s.end, fail);
  const kinds: GlobalKind[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const type = r.byte();
    const kind = NUMERIC.get(type);
    if (!kind) throw fail(`global ${kinds.length} has type 0x${type.toString(16)}; only i32, i64, f32 and f64 globals can be snapshot`);
    r.byte();
    skipConstExpr(r);
    kinds.push(kind);
  }
  return kinds;
}

function globalSection(bytes: Uint8Array, s: Section, snapshot: Snapshot): Uint8Array {
  const r = new WasmReader(bytes, s.start, s.end, fail);
  const parts: Uint8Array[] = [];
  for (let i = 0, n = r.u32(); i < n; i++) {
    const type = r.byte();
    const mutable = r.byte();
    skipConstExpr(r);
    parts.push(concat([Uint8Array.from([type, mutable]), constExpr(NUMERIC.get(type)!, snapshot.globals[i]!)]));
  }
  return vec(parts);
}

function memoryCount(bytes: Uint8Array, s: Section | undefined): number {
  return s ? new WasmReader(bytes, s.start, s.end, fail).u32() : 0;
}

function memorySection(bytes: Uint8Array, s: Section, snapshot: Snapshot): Uint8Array {
  const r = new WasmReader(bytes, s.start, s.end, fail);
  const parts: Uint8Array[] = [];
  for (let i = 0, n = r.u32(); i < n; i++) {
    const flags = r.byte();
    if (flags > 1) throw fail(`memory ${i} is shared or 64-bit (flags ${flags}), which a snapshot cannot write`);
    r.u32();
    const max = flags === 1 ? r.u32() : undefined;
    parts.push(concat([Uint8Array.from([flags]), u32(snapshot.memories[i]!.pages), ...(max === undefined ? [] : [u32(max)])]));
  }
  return vec(parts);
}

interface ExportEntry {
  readonly name: string;
  readonly kind: number;
  readonly raw: Uint8Array;
}

function exportEntries(bytes: Uint8Array, s: Section): ExportEntry[] {
  const r = new WasmReader(bytes, s.start, s.end, fail);
  const out: ExportEntry[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const at = r.pos;
    const name = r.name();
    const kind = r.byte();
    r.u32();
    out.push({ name, kind, raw: bytes.subarray(at, r.pos) });
  }
  return out;
}

function exportEntry(name: string, kind: number, index: number): Uint8Array {
  const n = new TextEncoder().encode(name);
  return concat([u32(n.length), n, Uint8Array.from([kind]), u32(index)]);
}

function customName(bytes: Uint8Array, s: Section): string | undefined {
  try {
    return new WasmReader(bytes, s.start, s.end, fail).name();
  } catch {
    return undefined;
  }
}

/** Skip a constant expression (MVP, extended-const, reference and v128 constants) up to its `end`. */
function skipConstExpr(r: WasmReader): void {
  for (;;) {
    const op = r.byte();
    if (op === 0x0b) return;
    if (op === 0x41) r.skipSigned(32);
    else if (op === 0x42) r.skipSigned(64);
    else if (op === 0x43) r.skip(4);
    else if (op === 0x44) r.skip(8);
    else if (op === 0x23 || op === 0xd2) r.u32();
    else if (op === 0xd0) r.skipSigned(33);
    else if (op === 0xfd && r.u32() === 12) r.skip(16);
    else if (![0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e].includes(op)) throw r.error(`opcode 0x${op.toString(16)} in a constant expression`);
  }
}

function constExpr(kind: GlobalKind, value: number | bigint): Uint8Array {
  switch (kind) {
    case 'i32':
      return concat([Uint8Array.from([0x41]), s32(Number(value) | 0), Uint8Array.from([0x0b])]);
    case 'i64':
      return concat([Uint8Array.from([0x42]), s64(BigInt.asIntN(64, BigInt(value))), Uint8Array.from([0x0b])]);
    case 'f32': {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, Number(value), true);
      return concat([Uint8Array.from([0x43]), b, Uint8Array.from([0x0b])]);
    }
    case 'f64': {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, Number(value), true);
      return concat([Uint8Array.from([0x44]), b, Uint8Array.from([0x0b])]);
    }
  }
}

function u32(n: number): Uint8Array {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return Uint8Array.from(out);
}

function s32(n: number): Uint8Array {
  return s64(BigInt(n));
}

function s64(n: bigint): Uint8Array {
  const out: number[] = [];
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return Uint8Array.from(out);
    }
    out.push(b | 0x80);
  }
}

function vec(items: readonly Uint8Array[]): Uint8Array {
  return concat([u32(items.length), ...items]);
}

function section(id: number, body: Uint8Array): Uint8Array {
  return concat([Uint8Array.from([id]), u32(body.length), body]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
