/**
 * Random hostile node components for the generator test: a spec says what the core module
 * declares (tables, memory, globals, functions, segments) and what its invoke does at run time
 * (grow a table or memory without end, recurse with fat frames, with or without a capability
 * call at every level, return many replies over the same bytes, trap); `hostileComponent`
 * builds it with jco (WAT -> core wasm -> component, no preopens needed: the WIT is passed as
 * text), and `expectedOutcome` says what the host must do with it under the default limits.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ROOT } from './bundle.js';

export type Behaviour =
  | { kind: 'reply' }
  | { kind: 'trap' }
  | { kind: 'grow-table'; step: number; ref: 'funcref' | 'externref' }
  | { kind: 'grow-memory'; pages: number }
  | { kind: 'recurse'; locals: number; callHost: boolean }
  | { kind: 'replies'; count: number; len: number };

export interface HostileSpec {
  readonly tables: ReadonlyArray<{ min: number; max: number | undefined; ref: 'funcref' | 'externref' }>;
  readonly memoryPages: number;
  readonly globals: number;
  readonly functions: number;
  readonly dataSegments: readonly number[];
  readonly elements: number;
  readonly behaviour: Behaviour;
}

const tableArb = fc.record({
  min: fc.oneof({ weight: 15, arbitrary: fc.nat(2000) }, { weight: 1, arbitrary: fc.integer({ min: 100_001, max: 400_000 }) }),
  max: fc.option(fc.integer({ min: 2000, max: 20_000_000 }), { nil: undefined }),
  ref: fc.constantFrom<'funcref' | 'externref'>('funcref', 'externref'),
});

const behaviourArb: fc.Arbitrary<Behaviour> = fc.oneof(
  fc.constant<Behaviour>({ kind: 'reply' }),
  fc.constant<Behaviour>({ kind: 'trap' }),
  fc.record({
    kind: fc.constant('grow-table' as const),
    step: fc.integer({ min: 1, max: 1_000_000 }),
    ref: fc.constantFrom<'funcref' | 'externref'>('funcref', 'externref'),
  }),
  fc.record({ kind: fc.constant('grow-memory' as const), pages: fc.integer({ min: 1, max: 4096 }) }),
  fc.record({ kind: fc.constant('recurse' as const), locals: fc.nat(400), callHost: fc.constant(false) }),
  // Calling the host at every level: fat frames keep the depth (and the refused calls past the limit) in the thousands.
  fc.record({ kind: fc.constant('recurse' as const), locals: fc.integer({ min: 100, max: 400 }), callHost: fc.constant(true) }),
  fc.record({
    kind: fc.constant('replies' as const),
    count: fc.oneof(fc.nat(100), fc.integer({ min: 0, max: 2_000_000 })),
    len: fc.oneof(fc.nat(64), fc.integer({ min: 0, max: 4 * 1024 * 1024 })),
  }),
);

/** Random specs: most load, some declare more than the defaults allow. */
export const hostileSpec: fc.Arbitrary<HostileSpec> = fc.record({
  tables: fc.array(tableArb, { maxLength: 3 }),
  memoryPages: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 1, max: 64 }) }, { weight: 1, arbitrary: fc.integer({ min: 1025, max: 2048 }) }),
  globals: fc.oneof({ weight: 12, arbitrary: fc.nat(200) }, { weight: 1, arbitrary: fc.integer({ min: 10_001, max: 11_000 }) }),
  functions: fc.nat(50),
  dataSegments: fc.array(fc.nat(256), { maxLength: 5 }),
  elements: fc.nat(64),
  behaviour: behaviourArb,
});

const LIST_AT = 1 << 20; // replies' list of (ptr, len) pairs
const TEXT_AT = 4096; // the bytes every reply points at

function invokeBody(b: Behaviour): string {
  switch (b.kind) {
    case 'reply':
      return '';
    case 'trap':
      return 'unreachable';
    case 'grow-table':
      return `(loop $grow (br_if $grow (i32.ne (table.grow $${b.ref === 'funcref' ? 'fgrow' : 'xgrow'} (ref.null ${b.ref === 'funcref' ? 'func' : 'extern'}) (i32.const ${b.step})) (i32.const -1))))`;
    case 'grow-memory':
      return `(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const ${b.pages})) (i32.const -1)))) unreachable`;
    case 'recurse':
      return '(drop (call $recurse (local.get $p)))';
    case 'replies': {
      // The list needs count * 8 bytes at 1 MiB; the text, len bytes at 4096 (both fit in 64 MiB, else the guest traps growing).
      const need = Math.ceil((LIST_AT + b.count * 8 + TEXT_AT + b.len) / 65536);
      return `
        (if (i32.lt_u (memory.size) (i32.const ${need}))
          (then (if (i32.lt_s (memory.grow (i32.sub (i32.const ${need}) (memory.size))) (i32.const 0)) (then unreachable))))
        (memory.fill (i32.const ${LIST_AT + b.count * 8}) (i32.const 97) (i32.const ${b.len}))
        (local.set $i (i32.const 0))
        (block $done (loop $fill
          (br_if $done (i32.ge_u (local.get $i) (i32.const ${b.count})))
          (i32.store (i32.add (i32.const ${LIST_AT}) (i32.mul (local.get $i) (i32.const 8))) (i32.const ${LIST_AT + b.count * 8}))
          (i32.store offset=4 (i32.add (i32.const ${LIST_AT}) (i32.mul (local.get $i) (i32.const 8))) (i32.const ${b.len}))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $fill)))
        (i32.store8 (i32.const 3500) (i32.const 0))
        (i32.store offset=4 (i32.const 3500) (i32.const ${LIST_AT}))
        (i32.store offset=8 (i32.const 3500) (i32.const ${b.count}))
        (i32.store8 offset=12 (i32.const 3500) (i32.const 3))
        (return (i32.const 3500))`;
    }
  }
}

/** The WAT of a node component declaring and doing what `s` says. */
export function hostileWat(s: HostileSpec): string {
  const b = s.behaviour;
  const locals = b.kind === 'recurse' && b.locals > 0 ? `(local ${'i64 '.repeat(b.locals)})` : '';
  const host =
    b.kind === 'recurse' && b.callHost
      ? `(call $log (i32.load (local.get $p)) (i32.load offset=4 (local.get $p)) (i32.load offset=8 (local.get $p)) (i32.load offset=12 (local.get $p))
          (i32.load8_u offset=16 (local.get $p)) (i32.load offset=20 (local.get $p)) (i32.load offset=24 (local.get $p)) (i32.load offset=28 (local.get $p))
          (i32.load offset=32 (local.get $p)) (i32.load offset=36 (local.get $p)) (i32.load offset=40 (local.get $p)) (i32.load offset=44 (local.get $p))
          (i32.load offset=48 (local.get $p)) (i32.const 2) (i32.const 256) (i32.const 2) (i32.const 2048))`
      : '';
  return `(module
  (import "greentic:host/log@0.1.0" "write" (func $log (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (memory (export "memory") ${s.memoryPages})
  ${s.tables.map((t, i) => `(table $t${i} ${t.min}${t.max === undefined ? '' : ` ${Math.max(t.max, t.min)}`} ${t.ref})`).join('\n  ')}
  (table $fgrow 1 funcref)
  (table $xgrow 1 externref)
  (global $heap (mut i32) (i32.const 4096))
  ${Array.from({ length: s.globals }, (_, i) => `(global (mut i32) (i32.const ${i}))`).join(' ')}
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1))) (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $ptr) (local.get 3)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.lt_s (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1))) (i32.const 0)) (then unreachable))))
    (local.get $ptr))
  (func $recurse (param $p i32) (result i64) ${locals}
    ${host}
    (i64.add (call $recurse (local.get $p)) (i64.const 1)))
  ${Array.from({ length: s.functions }, (_, i) => `(func $f${i} (result i32) (i32.const ${i}))`).join(' ')}
  (func $reply (result i32)
    (i32.store (i32.const 3000) (i32.const 256))
    (i32.store offset=4 (i32.const 3000) (i32.const 2))
    (i32.store8 (i32.const 3500) (i32.const 0))
    (i32.store offset=4 (i32.const 3500) (i32.const 3000))
    (i32.store offset=8 (i32.const 3500) (i32.const 1))
    (i32.store8 offset=12 (i32.const 3500) (i32.const 3))
    (i32.const 3500))
  (func (export "greentic:host/node@0.1.0#invoke") (param $p i32) (result i32)
    (local $i i32)
    ${invokeBody(b)}
    (call $reply))
  (func (export "cabi_post_greentic:host/node@0.1.0#invoke") (param i32) (global.set $heap (i32.const 4096)))
  (elem declare func $reply)
  ${s.elements > 0 ? `(elem func ${'$reply '.repeat(s.elements)})` : ''}
  (data (i32.const 256) "ok")
  ${s.dataSegments.map((n) => `(data "${'x'.repeat(n)}")`).join(' ')})`;
}

const strip = (f: string) => readFileSync(join(ROOT, 'wit', f), 'utf8').replace(/^package .*;$/m, '');
/** greentic:host's WIT as one text, so that embedding needs no file access. */
export const NODE_WIT = `package greentic:host@0.1.0;\n${strip('types.wit')}\n${strip('capabilities.wit')}\n${strip('node.wit')}`;

/** Build `wat` into component bytes with jco's wasm-tools API. */
export async function hostileComponent(wat: string): Promise<Uint8Array> {
  const jco = await import('@bytecodealliance/jco');
  const core = await jco.parse(wat);
  return jco.componentNew(await jco.componentEmbed({ binary: core, witSource: NODE_WIT, world: 'node-component' }), []);
}

const MiB = 1024 * 1024;

/** What the host must do with `s` under the default limits: refuse it at load (the message's start), or run it with this outcome. */
export function expectedOutcome(s: HostileSpec): { refused: RegExp } | { replies: string[] } | { code: string } {
  // The table section comes before the memory section, and counts are checked once both are read.
  const over = s.tables.findIndex((t) => t.min > 100_000);
  if (over >= 0) return { refused: new RegExp(`: core module component\\.core\\.wasm: table ${over} starts with \\d+ elements, more than the 100000 allowed`) };
  if (s.memoryPages > 1024)
    return { refused: /: core module component\.core\.wasm: memory 0 starts at [\d.]+ MiB, more than the 64 MiB allowed \(limits\.memory_mib\)$/ };
  if (s.globals + 1 > 10_000) return { refused: / declares \d+ globals, more than the 10000 allowed \(settings\.limits\.module\.globals\)$/ };
  const b = s.behaviour;
  switch (b.kind) {
    case 'reply':
    case 'grow-table':
      return { replies: ['ok'] };
    case 'trap':
    case 'recurse':
      return { code: 'trap' };
    case 'grow-memory': {
      // It grows by `pages` until refused at the 1024-page cap, then traps: taken for out-of-memory within 8 MiB of the cap.
      const final = s.memoryPages + Math.floor((1024 - s.memoryPages) / b.pages) * b.pages;
      return { code: final > 896 ? 'out-of-memory' : 'trap' };
    }
    case 'replies': {
      const need = LIST_AT + b.count * 8 + TEXT_AT + b.len;
      if (need > 64 * MiB) return { code: 'trap' };
      if (b.count > 100_000) return { code: 'limit-exceeded' };
      if (b.count * b.len > 16 * MiB) return { code: 'limit-exceeded' };
      if (b.count * b.len > MiB) return { code: 'limit-exceeded' };
      return { replies: Array.from({ length: b.count }, () => 'a'.repeat(b.len)) };
    }
  }
}
