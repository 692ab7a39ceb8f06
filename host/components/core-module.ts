/**
 * Read what a core module declares, and cap what it can grow, before it is compiled. V8 bounds
 * neither by the worker's heap: a table lives on the JS heap and a guest growing one to millions
 * of entries hits V8's fatal out-of-memory handler, which aborts the whole process. So every
 * defined memory and table gets a maximum written into the module (`memory.grow` and
 * `table.grow` past it fail inside the guest, as the wasm spec says), anything that starts above
 * its cap is refused, and everything else the module declares is counted for the tenant's limits
 * (module-limits.ts). The walk is bounded by the bytes: no count is trusted before its items are read.
 */
import { WasmReader, type SectionSpan } from './wasm-reader.js';

/** A module this host will not run as it is: it starts above a cap, or uses a feature that allocates outside them. */
export class ModuleRefusal extends Error {
  override readonly name = 'ModuleRefusal';
}

/** What one core module declares, counted as the tenant's limits count it. */
export interface ModuleFootprint {
  types: number;
  imports: number;
  exports: number;
  /** Imported and defined. */
  functions: number;
  /** Defined here (imported ones are counted where they are defined). */
  memories: number;
  tables: number;
  /** The defined tables' maximums added up, after capping: the most entries they can grow to. */
  tableSlots: number;
  globals: number;
  tags: number;
  dataSegments: number;
  dataBytes: number;
  elementSegments: number;
  elements: number;
  codeBytes: number;
}

/** The most a defined memory (in 64 KiB pages) and a defined table (in elements) may reach. */
export interface GrowthCaps {
  readonly memoryPages: number;
  readonly tableElements: number;
}

export interface ReadModule {
  /** The module with every defined memory's and table's maximum at most its cap. */
  readonly bytes: Uint8Array;
  readonly footprint: ModuleFootprint;
}

const SECTION = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
};
/** Value types of one byte: i32 i64 f32 f64 v128, and the abstract reference shorthands (funcref, externref, exnref, anyref, ...). */
const SIMPLE_VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69, 0x6e, 0x6d, 0x6c, 0x6b, 0x6a, 0x71, 0x72, 0x73, 0x74]);
const REF_TYPED = new Set([0x63, 0x64]);

/** A footprint of nothing declared. */
export function emptyModuleFootprint(): ModuleFootprint {
  return {
    types: 0,
    imports: 0,
    exports: 0,
    functions: 0,
    memories: 0,
    tables: 0,
    tableSlots: 0,
    globals: 0,
    tags: 0,
    dataSegments: 0,
    dataBytes: 0,
    elementSegments: 0,
    elements: 0,
    codeBytes: 0,
  };
}

/** Parse `bytes` (a core module), cap its memories and tables at `caps`, and count what it declares. */
export function readCoreModule(bytes: Uint8Array, caps: GrowthCaps): ReadModule {
  const r = new WasmReader(bytes);
  r.preamble('module');
  const fp = emptyModuleFootprint();
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  while (!r.done()) {
    const span = r.section();
    const body = r.body(span);
    if (span.id === SECTION.memory) parts.push(rewritten(span.id, memories(body, caps, fp)));
    else if (span.id === SECTION.table) parts.push(rewritten(span.id, tables(body, caps, fp)));
    else {
      count(span, body, fp);
      parts.push(bytes.subarray(span.at, span.end));
    }
    body.finish(`section ${span.id}`);
    r.pos = span.end;
  }
  return { bytes: concat(parts), footprint: fp };
}

/** Count the items of a section that is kept as it is. */
function count(span: SectionSpan, r: WasmReader, fp: ModuleFootprint): void {
  switch (span.id) {
    case SECTION.custom:
      r.pos = r.end;
      return;
    case SECTION.type:
      for (let n = (fp.types = r.u32()); n > 0; n--) funcType(r);
      return;
    case SECTION.import:
      for (let n = (fp.imports = r.u32()); n > 0; n--) importEntry(r, fp);
      return;
    case SECTION.function:
      for (let n = r.u32(); n > 0; n--, fp.functions++) r.u32();
      return;
    case SECTION.global:
      for (let n = (fp.globals = r.u32()); n > 0; n--) {
        globalType(r);
        constExpr(r);
      }
      return;
    case SECTION.export:
      for (let n = (fp.exports = r.u32()); n > 0; n--) {
        r.vecBytes();
        r.byte();
        r.u32();
      }
      return;
    case SECTION.start:
    case SECTION.dataCount:
      r.u32();
      return;
    case SECTION.element:
      for (let n = (fp.elementSegments = r.u32()); n > 0; n--) fp.elements += elementSegment(r);
      return;
    case SECTION.code:
      fp.codeBytes = span.end - span.start;
      for (let n = r.u32(); n > 0; n--) r.skip(r.u32());
      return;
    case SECTION.data:
      for (let n = (fp.dataSegments = r.u32()); n > 0; n--) fp.dataBytes += dataSegment(r);
      return;
    case SECTION.tag:
      for (let n = (fp.tags = r.u32()); n > 0; n--) {
        if (r.byte() !== 0x00) throw r.error('unknown tag attribute');
        r.u32();
      }
      return;
    default:
      throw r.error(`unknown section id ${span.id}`);
  }
}

function funcType(r: WasmReader): void {
  const form = r.byte();
  if (form !== 0x60) {
    // 0x4e rec, 0x50/0x4f sub, 0x5f struct, 0x5e array: objects on V8's heap, outside every cap here.
    throw new ModuleRefusal('declares wasm GC types (struct, array or recursive type groups), which this host does not run');
  }
  for (let n = r.u32(); n > 0; n--) valType(r);
  for (let n = r.u32(); n > 0; n--) valType(r);
}

function valType(r: WasmReader): void {
  const b = r.byte();
  if (REF_TYPED.has(b)) r.skipSigned(33);
  else if (!SIMPLE_VALTYPES.has(b)) throw r.error(`unknown value type 0x${b.toString(16)}`);
}

function globalType(r: WasmReader): void {
  valType(r);
  if (r.byte() > 1) throw r.error('invalid global mutability');
}

function importEntry(r: WasmReader, fp: ModuleFootprint): void {
  r.vecBytes();
  r.vecBytes();
  const kind = r.byte();
  switch (kind) {
    case 0x00:
      r.u32();
      fp.functions++;
      return;
    case 0x01:
      valType(r);
      limits(r, 'table');
      return;
    case 0x02:
      limits(r, 'memory');
      return;
    case 0x03:
      globalType(r);
      return;
    case 0x04:
      if (r.byte() !== 0x00) throw r.error('unknown tag attribute');
      r.u32();
      return;
    default:
      throw r.error(`unknown import kind 0x${kind.toString(16)}`);
  }
}

interface Limits {
  readonly flags: number;
  readonly min: number;
  readonly max: number | undefined;
}

/** A table's or memory's limits: 32-bit, not shared, default page size (anything else is refused). */
function limits(r: WasmReader, what: 'table' | 'memory'): Limits {
  const flags = r.byte();
  if (flags & 0x02) throw new ModuleRefusal(`declares a shared ${what}, which this host does not run`);
  if (flags & 0x04) throw new ModuleRefusal(`declares a 64-bit ${what}, which this host does not run`);
  if (flags & ~0x01) throw new ModuleRefusal(`declares a ${what} with limit flags 0x${flags.toString(16)}, which this host does not run`);
  const min = r.u32();
  const max = flags & 0x01 ? r.u32() : undefined;
  return { flags, min, max };
}

function memories(r: WasmReader, caps: GrowthCaps, fp: ModuleFootprint): Uint8Array[] {
  const n = r.u32();
  const out: Uint8Array[] = [leb(n)];
  for (let i = 0; i < n; i++) {
    const { min, max } = limits(r, 'memory');
    if (min > caps.memoryPages)
      throw new ModuleRefusal(`memory ${i} starts at ${mib(min)} MiB, more than the ${mib(caps.memoryPages)} MiB allowed (limits.memory_mib)`);
    out.push(Uint8Array.of(0x01), leb(min), leb(Math.min(max ?? caps.memoryPages, caps.memoryPages)));
    fp.memories++;
  }
  return out;
}

function tables(r: WasmReader, caps: GrowthCaps, fp: ModuleFootprint): Uint8Array[] {
  const n = r.u32();
  const out: Uint8Array[] = [leb(n)];
  for (let i = 0; i < n; i++) {
    const start = r.pos;
    // table ::= tabletype | 0x40 0x00 tabletype expr (a table with an initial value)
    const withInit = r.bytes[r.pos] === 0x40;
    if (withInit) {
      r.byte();
      if (r.byte() !== 0x00) throw r.error('invalid table encoding');
    }
    const typeStart = r.pos;
    valType(r);
    const refType = r.bytes.subarray(typeStart, r.pos);
    const { min, max } = limits(r, 'table');
    if (min > caps.tableElements) {
      throw new ModuleRefusal(`table ${i} starts with ${min} elements, more than the ${caps.tableElements} allowed (settings.limits.module.table_elements)`);
    }
    const exprStart = r.pos;
    if (withInit) constExpr(r);
    const capped = Math.min(max ?? caps.tableElements, caps.tableElements);
    out.push(r.bytes.subarray(start, typeStart), refType, Uint8Array.of(0x01), leb(min), leb(capped));
    out.push(r.bytes.subarray(exprStart, r.pos));
    fp.tables++;
    fp.tableSlots += capped;
  }
  return out;
}

/** An element segment (flags 0-7, as the spec lays them out); returns how many elements it holds. */
function elementSegment(r: WasmReader): number {
  const flags = r.u32();
  if (flags > 7) throw r.error(`unknown element segment flags ${flags}`);
  const passiveOrDeclared = (flags & 0x01) !== 0;
  const explicitTable = (flags & 0x02) !== 0;
  const usesExprs = (flags & 0x04) !== 0;
  if (!passiveOrDeclared) {
    if (explicitTable) r.u32();
    constExpr(r);
  }
  if (passiveOrDeclared || explicitTable) {
    if (usesExprs) valType(r);
    else if (r.byte() !== 0x00) throw r.error('unknown element kind');
  }
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    if (usesExprs) constExpr(r);
    else r.u32();
  }
  return n;
}

/** A data segment (flags 0-2); returns its size in bytes. */
function dataSegment(r: WasmReader): number {
  const flags = r.u32();
  if (flags === 2) r.u32();
  if (flags === 0 || flags === 2) constExpr(r);
  else if (flags !== 1) throw r.error(`unknown data segment flags ${flags}`);
  return r.vecBytes().length;
}

/** Skip a constant expression up to its `end`: the instructions the spec (and extended-const) allow there. */
function constExpr(r: WasmReader): void {
  for (;;) {
    const op = r.byte();
    switch (op) {
      case 0x0b:
        return;
      case 0x41:
        r.skipSigned(32);
        break;
      case 0x42:
        r.skipSigned(64);
        break;
      case 0x43:
        r.skip(4);
        break;
      case 0x44:
        r.skip(8);
        break;
      case 0x23:
      case 0xd2:
        r.u32();
        break;
      case 0xd0:
        r.skipSigned(33);
        break;
      case 0x6a:
      case 0x6b:
      case 0x6c:
      case 0x7c:
      case 0x7d:
      case 0x7e:
        break;
      case 0xfd:
        if (r.u32() !== 12) throw r.error('unsupported SIMD instruction in a constant expression');
        r.skip(16);
        break;
      case 0xfb:
        throw new ModuleRefusal('uses wasm GC instructions in a constant expression, which this host does not run');
      default:
        throw r.error(`unsupported instruction 0x${op.toString(16)} in a constant expression`);
    }
  }
}

function rewritten(id: number, body: Uint8Array[]): Uint8Array {
  const content = concat(body);
  return concat([Uint8Array.of(id), leb(content.length), content]);
}

const PAGE = 64 * 1024;
const mib = (pages: number) => Math.round(((pages * PAGE) / (1024 * 1024)) * 10) / 10;

function leb(n: number): Uint8Array {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Uint8Array.from(out);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
