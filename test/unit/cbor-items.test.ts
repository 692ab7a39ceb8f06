import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../dist/greentic/cbor.js';
import { cborItemCount } from '../../dist/greentic/cbor-items.js';

/** Items a JSON value becomes in CBOR: itself, and (for a map) each key and value, (for an array) each element. */
function items(v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((n: number, e) => n + items(e), 0);
  if (v !== null && typeof v === 'object') return 1 + Object.values(v).reduce((n: number, e) => n + 1 + items(e), 0);
  return 1;
}

describe('counting the items of a CBOR value without decoding it', () => {
  it('counts every head but break, and skips string payloads', () => {
    expect(cborItemCount(Uint8Array.of(0x83, 0x01, 0x62, 0x80, 0x80, 0xa0), 100)).toBe(4); // [1, "\x80\x80", {}] and its 3 elements: the string's bytes are not heads
    expect(cborItemCount(Uint8Array.of(0x9f, 0x80, 0x80, 0xff), 100)).toBe(3); // [_ [], []]
    const million = new Uint8Array(1_000_002).fill(0x80);
    million[0] = 0x9f;
    million[1_000_001] = 0xff;
    expect(cborItemCount(million, 100_000)).toBe(100_001); // stops just past the limit
  });

  it('for any JSON value, counts what encodeCbor writes', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => {
        expect(cborItemCount(encodeCbor(v), 1e9)).toBe(items(v));
      }),
      { seed: 20261201, numRuns: 500 },
    );
  });

  it('for any bytes, ends and counts at most one item a byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (b) => {
        expect(cborItemCount(b, 1e9)).toBeLessThanOrEqual(b.length);
      }),
      { seed: 20261201, numRuns: 2000 },
    );
  });
});
