// The two module rewrites of the deterministic pre-initializer (what Wizer does): export the
// state, then write the state after initialization back as the module's initial state.
import { parse } from '@bytecodealliance/jco';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dataSegments, instrument, rewriteInitialized, SnapshotModuleError } from '../../dist/components/snapshot-module.js';

const WAT = `(module
  (memory 1)
  (global $g (mut i32) (i32.const 7))
  (global $h (mut i64) (i64.const -1))
  (data (i32.const 16) "seed")
  (func $init (export "init")
    (global.set $g (i32.const 42))
    (global.set $h (i64.const -123456789012))
    (i32.store (i32.const 100) (i32.const 0x01020304))
    (drop (memory.grow (i32.const 1))))
  (func (export "read") (result i32) (global.get $g))
  (func (export "pages") (result i32) (memory.size)))`;

describe('pre-initialization snapshots', () => {
  it('a module initialized, snapshot and rewritten starts where the initialization left it, without its init export', async () => {
    const original = await parse(WAT);
    const inst = instrument(original);
    expect(inst.globals).toEqual(['i32', 'i64']);
    expect(inst.memories).toBe(1);
    const { instance } = await WebAssembly.instantiate(inst.bytes);
    const ex = instance.exports as Record<string, any>;
    ex.init();
    const memory = ex.__wizer_memory_0 as WebAssembly.Memory;
    const snapshot = {
      globals: [ex.__wizer_global_0.value, ex.__wizer_global_1.value],
      memories: [{ pages: memory.buffer.byteLength / 65536, bytes: new Uint8Array(memory.buffer) }],
    };
    const rewritten = rewriteInitialized(original, snapshot, 'init', true);
    const again = rewriteInitialized(original, snapshot, 'init', true);
    expect(Buffer.from(again).equals(Buffer.from(rewritten))).toBe(true); // the same state, the same bytes
    const mod = new WebAssembly.Module(rewritten);
    expect(WebAssembly.Module.exports(mod).map((e) => e.name)).toEqual(['read', 'pages']);
    const after = (await WebAssembly.instantiate(mod)).exports as Record<string, any>;
    expect(after.read()).toBe(42);
    expect(after.pages()).toBe(2);
  });

  it('refuses what a snapshot cannot keep, by name', async () => {
    const imported = await parse('(module (import "env" "m" (memory 1)) (func (export "init")))');
    expect(() => instrument(imported)).toThrow(
      new SnapshotModuleError('pre-initializer: the module imports a memory (env#m); only functions can be imported into a module that is pre-initialized'),
    );
    const passive = await parse('(module (memory 1) (data "x") (func (export "init")))');
    expect(() => instrument(passive)).toThrow(new SnapshotModuleError('pre-initializer: the module has a passive data segment, which a snapshot cannot keep'));
  });

  it('data segments cover every non-zero byte, within pages, and never more than 10,000 of them', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(3 * 65536 - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 300 }), (writes) => {
        const memory = new Uint8Array(3 * 65536);
        for (const [at, v] of writes) memory[at] = v;
        const segs = dataSegments(memory);
        expect(segs.length).toBeLessThanOrEqual(10_000);
        const covered = new Uint8Array(memory.length);
        for (const s of segs) covered.fill(1, s.offset, s.offset + s.length);
        for (let i = 0; i < memory.length; i++) if (memory[i] !== 0) expect(covered[i]).toBe(1);
        for (let i = 1; i < segs.length; i++) expect(segs[i]!.offset).toBeGreaterThan(segs[i - 1]!.offset + segs[i - 1]!.length);
      }),
      { numRuns: 200 },
    );
  });
});
