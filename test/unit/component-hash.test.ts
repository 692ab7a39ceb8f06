// BLAKE3 of components and pack files: the same digest as hashing in one piece, computed a slice
// at a time so that other tenants' work runs while a large pack or component is checked.
import { blake3 } from '@noble/hashes/blake3.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blake3Hex, blake3Mismatch } from '../../dist/greentic/component-hash.js';

const oneShot = (b: Uint8Array) => Buffer.from(blake3(b)).toString('hex');

describe('blake3Hex', () => {
  it('is the one-piece digest for any length, across slice boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 255 }), async (length, seed) => {
        const bytes = new Uint8Array(length).map((_, i) => (i * 31 + seed) & 0xff);
        expect(await blake3Hex(bytes)).toBe(oneShot(bytes));
      }),
      {
        numRuns: 40,
        examples: [
          [0, 0],
          [65_536, 1],
          [65_537, 2],
          [131_072, 3],
        ],
      },
    );
  });

  it('lets the event loop run while it hashes a large input', async () => {
    const bytes = new Uint8Array(4 * 1024 * 1024).fill(7);
    let turns = 0;
    let hashing = true;
    const other = (async () => {
      while (hashing) {
        await new Promise((r) => setImmediate(r));
        turns++;
      }
    })();
    const digest = await blake3Hex(bytes);
    hashing = false;
    await other;
    expect(digest).toBe(oneShot(bytes));
    // 64 slices: other work got a turn between them, not only after the last.
    expect(turns).toBeGreaterThanOrEqual(32);
  });

  it('names both digests when they differ', async () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(await blake3Mismatch(bytes, oneShot(bytes))).toBeNull();
    expect(await blake3Mismatch(bytes, '0'.repeat(64))).toBe(`blake3 is ${oneShot(bytes)} but the manifest's hashes.component_wasm pins ${'0'.repeat(64)}`);
  });
});
