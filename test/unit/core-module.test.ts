import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModuleRefusal, readCoreModule } from '../../dist/components/core-module.js';
import { footprintRefusal, emptyFootprint, addFootprint, instanceHeapBytes } from '../../dist/components/module-limits.js';
import { WasmFormatError } from '../../dist/components/wasm-reader.js';
import { DEFAULT_MODULE_LIMITS } from '../../dist/tenancy/model.js';
import { coreModule, leb, PREAMBLE, type ModuleSpec } from '../support/wasm-module.js';

const caps = { memoryPages: 32, tableElements: 1000 }; // 2 MiB, 1000 elements
const MiB = 1024 * 1024;

async function instance(bytes: Uint8Array, exports: string): Promise<WebAssembly.Instance> {
  const withExports = appendExports(bytes, exports);
  return WebAssembly.instantiate(await WebAssembly.compile(withExports));
}
/** `bytes` with an export section naming memory 0 "m" and/or table 0 "t" (it must have none of its own). */
function appendExports(bytes: Uint8Array, which: string): Uint8Array {
  const entries = [...which].map((w) => (w === 'm' ? [0x01, 0x6d, 0x02, 0x00] : [0x01, 0x74, 0x01, 0x00]));
  const body = [...leb(entries.length), ...entries.flat()];
  return Uint8Array.from([...bytes, 0x07, ...leb(body.length), ...body]);
}
const read = (spec: ModuleSpec) => readCoreModule(coreModule(spec), caps);

describe('the memory and table caps written into a core module', () => {
  it('adds a maximum to a memory that had none, and growth past it fails', async () => {
    const capped = read({ memories: [{ min: 1 }] });
    expect((await instance(coreModule({ memories: [{ min: 1 }] }), 'm')).exports.m).toBeInstanceOf(WebAssembly.Memory);
    const m = (await instance(capped.bytes, 'm')).exports.m as WebAssembly.Memory;
    expect(m.grow(31)).toBe(1); // up to 32 pages = 2 MiB
    expect(() => m.grow(1)).toThrowError(RangeError);
  });

  it('lowers a larger maximum and keeps a smaller one', async () => {
    const lowered = (await instance(read({ memories: [{ min: 1, max: 100 }] }).bytes, 'm')).exports.m as WebAssembly.Memory;
    expect(() => lowered.grow(40)).toThrowError(RangeError);
    const kept = (await instance(read({ memories: [{ min: 1, max: 4 }] }).bytes, 'm')).exports.m as WebAssembly.Memory;
    expect(kept.grow(3)).toBe(1);
    expect(() => kept.grow(1)).toThrowError(RangeError);
  });

  it('caps every table: table.grow past the cap fails, as a bounded table does', async () => {
    const t = (await instance(read({ tables: [{ min: 10 }] }).bytes, 't')).exports.t as WebAssembly.Table;
    expect(t.grow(990)).toBe(10);
    expect(() => t.grow(1)).toThrowError(RangeError);
    const kept = (await instance(read({ tables: [{ min: 1, max: 5, ref: 'externref' }] }).bytes, 't')).exports.t as WebAssembly.Table;
    expect(() => kept.grow(5)).toThrowError(RangeError);
    expect(read({ tables: [{ min: 1 }, { min: 2, max: 5000 }] }).footprint.tableSlots).toBe(2000);
  });

  it('refuses what starts above its cap, naming the item and the limit', () => {
    expect(() => read({ memories: [{ min: 64 }] })).toThrowError(
      new ModuleRefusal('memory 0 starts at 4 MiB, more than the 2 MiB allowed (limits.memory_mib)'),
    );
    expect(() => read({ tables: [{ min: 1 }, { min: 1001 }] })).toThrowError(
      new ModuleRefusal('table 1 starts with 1001 elements, more than the 1000 allowed (settings.limits.module.table_elements)'),
    );
  });

  it('leaves a module without memories and tables byte for byte as it was', () => {
    const bytes = coreModule({ functions: 3, globals: 2, dataSegments: [4] });
    expect(readCoreModule(bytes, caps).bytes).toEqual(bytes);
  });
});

describe('what a core module declares, counted', () => {
  it('counts every kind of item', () => {
    const fp = read({
      memories: [{ min: 1 }],
      tables: [{ min: 1 }],
      globals: 3,
      functions: 4,
      imports: 2,
      exports: 5,
      dataSegments: [7, 9],
      elementSegments: [3, 4],
      tags: 2,
    }).footprint;
    expect(fp).toEqual({
      types: 1,
      imports: 2,
      exports: 5,
      functions: 6,
      memories: 1,
      tables: 1,
      tableSlots: 1000,
      globals: 3,
      tags: 2,
      dataSegments: 2,
      dataBytes: 16,
      elementSegments: 2,
      elements: 7,
      codeBytes: 1 + 4 * 3,
    });
  });

  const spec = fc.record({
    memories: fc.array(fc.record({ min: fc.nat(32), max: fc.option(fc.integer({ min: 32, max: 65536 }), { nil: undefined }) }), { maxLength: 1 }),
    tables: fc.array(fc.record({ min: fc.nat(1000), max: fc.option(fc.integer({ min: 1000, max: 1 << 24 }), { nil: undefined }) }), { maxLength: 4 }),
    globals: fc.nat(50),
    functions: fc.integer({ min: 1, max: 50 }),
    imports: fc.nat(5),
    exports: fc.nat(5),
    dataSegments: fc.array(fc.nat(64), { maxLength: 5 }),
    elementSegments: fc.array(fc.nat(20), { maxLength: 5 }),
    tags: fc.constant(0),
  });

  it('for any well-formed module: counts what was declared, and the capped module is still valid', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const bytes = coreModule(s);
        expect(WebAssembly.validate(bytes)).toBe(true);
        const { footprint, bytes: capped } = readCoreModule(bytes, caps);
        expect(WebAssembly.validate(capped)).toBe(true);
        expect(footprint.functions).toBe(s.functions + s.imports);
        expect(footprint.tables).toBe(s.tables.length);
        expect(footprint.tableSlots).toBe(s.tables.reduce((n, t) => n + Math.min(t.max ?? 1000, 1000), 0));
        expect(footprint.globals).toBe(s.globals);
        expect(footprint.dataBytes).toBe(s.dataSegments.reduce((a, b) => a + b, 0));
        expect(footprint.elements).toBe(s.elementSegments.reduce((a, b) => a + b, 0));
        // Reading the capped module again changes nothing: the caps are a fixed point.
        expect(readCoreModule(capped, caps).bytes).toEqual(capped);
      }),
      { seed: 20261201, numRuns: 300 },
    );
  });
});

describe('hostile bytes never make the reader hang, allocate by a declared count, or throw anything but a clear error', () => {
  const refusedOrRead = (bytes: Uint8Array) => {
    try {
      readCoreModule(bytes, caps);
      return 'read';
    } catch (e) {
      if (e instanceof WasmFormatError || e instanceof ModuleRefusal) return 'refused';
      throw e;
    }
  };

  it('says where malformed bytes break', () => {
    const huge = Uint8Array.from([...PREAMBLE, 0x03, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f]); // 2^32-1 functions in 5 bytes
    expect(() => readCoreModule(huge, caps)).toThrowError(new WasmFormatError('unexpected end at byte 15'));
    const overlong = Uint8Array.from([...PREAMBLE, 0x06, 0x0b, 0x01, 0x7f, 0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b]); // i32.const of 6 bytes
    expect(() => readCoreModule(overlong, caps)).toThrowError(new WasmFormatError('LEB128 number too long at byte 19'));
    const wide = Uint8Array.from([...PREAMBLE, 0x03, 0x05, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    expect(() => readCoreModule(wide, caps)).toThrowError(new WasmFormatError('LEB128 number does not fit in 32 bits at byte 14'));
    const past = Uint8Array.from([...PREAMBLE, 0x01, 0x7f, 0x00]);
    expect(() => readCoreModule(past, caps)).toThrowError(new WasmFormatError('section 1 at byte 8 runs past the end of the file'));
    expect(() => readCoreModule(Uint8Array.from([...PREAMBLE, 0x0e, 0x00]), caps)).toThrowError(new WasmFormatError('unknown section id 14 at byte 10'));
    expect(() => readCoreModule(Uint8Array.from([1, 2, 3]), caps)).toThrowError(new WasmFormatError('not a WebAssembly core module'));
  });

  it('refuses features that allocate outside every cap', () => {
    const gc = Uint8Array.from([...PREAMBLE, 0x01, 0x04, 0x01, 0x5e, 0x7f, 0x01]); // (type (array (mut i32)))
    expect(() => readCoreModule(gc, caps)).toThrowError(
      new ModuleRefusal('declares wasm GC types (struct, array or recursive type groups), which this host does not run'),
    );
    const shared = Uint8Array.from([...PREAMBLE, 0x05, 0x04, 0x01, 0x03, 0x01, 0x02]);
    expect(() => readCoreModule(shared, caps)).toThrowError(new ModuleRefusal('declares a shared memory, which this host does not run'));
    const mem64 = Uint8Array.from([...PREAMBLE, 0x05, 0x03, 0x01, 0x04, 0x01]);
    expect(() => readCoreModule(mem64, caps)).toThrowError(new ModuleRefusal('declares a 64-bit memory, which this host does not run'));
  });

  it('for any bytes (random, truncated or corrupted modules): reads or refuses with one of its two errors', () => {
    const valid = coreModule({
      memories: [{ min: 1 }],
      tables: [{ min: 2 }],
      globals: 2,
      functions: 3,
      imports: 1,
      exports: 2,
      dataSegments: [5],
      elementSegments: [2],
    });
    const corrupted = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(valid.length)).map(([at, byte, cut]) =>
      Uint8Array.from(valid)
        .map((b, i) => (i === at ? byte : b))
        .subarray(0, Math.max(8, cut)),
    );
    const random = fc.uint8Array({ maxLength: 64 }).map((b) => Uint8Array.from([...PREAMBLE, ...b]));
    fc.assert(
      fc.property(fc.oneof(corrupted, random), (bytes) => {
        const outcome = refusedOrRead(bytes);
        expect(['read', 'refused']).toContain(outcome);
        // What it read is rewritten into bytes V8 can judge (valid or not), never into a crash.
        if (outcome === 'read') expect(typeof WebAssembly.validate(readCoreModule(bytes, caps).bytes)).toBe('boolean');
      }),
      { seed: 20261201, numRuns: 3000 },
    );
  });
});

describe('the limits on a whole component', () => {
  const total = (specs: ModuleSpec[]) => {
    const fp = emptyFootprint(1000, specs.length);
    for (const s of specs) addFootprint(fp, read(s).footprint);
    return fp;
  };

  it('sums its core modules and names the first limit it breaks, with the key that sets it', () => {
    const limits = { ...DEFAULT_MODULE_LIMITS, tables: 2, globals: 10 };
    expect(footprintRefusal(total([{ tables: [{ min: 1 }] }, { tables: [{ min: 1 }] }]), limits)).toBeUndefined();
    expect(footprintRefusal(total([{ tables: [{ min: 1 }, { min: 1 }] }, { tables: [{ min: 1 }] }]), limits)).toBe(
      'declares 3 tables, more than the 2 allowed (settings.limits.module.tables)',
    );
    expect(footprintRefusal(total([{ globals: 6 }, { globals: 5 }]), limits)).toBe(
      'declares 11 globals, more than the 10 allowed (settings.limits.module.globals)',
    );
    expect(footprintRefusal(emptyFootprint(70 * MiB, 1), DEFAULT_MODULE_LIMITS)).toBe(
      'is 73400320 bytes, more than the 67108864 allowed (settings.limits.module.bytes)',
    );
  });

  it('estimates the engine heap of one instance, its tables grown to their maximum, and bounds it', () => {
    const fp = total([{ tables: [{ min: 1 }, { min: 1 }] }]); // 2 x 1000 slots
    expect(instanceHeapBytes(fp)).toBe(2000 * 48 + 64);
    const big = { ...fp, tableSlots: 2_000_000 };
    expect(footprintRefusal(big, DEFAULT_MODULE_LIMITS)).toBe(
      'would take about 92 MiB of engine heap per instance (its tables at their maximum, functions, globals, imports and exports), more than the 64 MiB allowed (settings.limits.module.heap_mib)',
    );
  });
});
