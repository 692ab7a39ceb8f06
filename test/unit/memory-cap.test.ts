import { describe, expect, it } from 'vitest';
import { capMemory, MemoryCapError } from '../../dist/components/memory-cap.js';
import { TokenBucket } from '../../dist/sandbox/rate-limit.js';

const MiB = 1024 * 1024;
/** A core module with one memory of `min` pages (and `max` pages if given), exported as "m". */
function moduleWithMemory(min: number, max?: number): Uint8Array {
  const limits = max === undefined ? [0x00, min] : [0x01, min, max];
  const memorySection = [0x05, 1 + limits.length, 0x01, ...limits];
  const exportSection = [0x07, 0x05, 0x01, 0x01, 0x6d, 0x02, 0x00];
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...memorySection, ...exportSection]);
}
async function grow(bytes: Uint8Array, pages: number): Promise<number> {
  const inst = await WebAssembly.instantiate(await WebAssembly.compile(bytes));
  return (inst.exports.m as WebAssembly.Memory).grow(pages);
}

describe('the memory cap', () => {
  it('adds a maximum to a memory that had none, and growth past it fails', async () => {
    const capped = capMemory(moduleWithMemory(1), 2 * MiB);
    expect(capped.initialPages).toEqual([1]);
    await expect(grow(moduleWithMemory(1), 100)).resolves.toBe(1); // uncapped: grows
    await expect(grow(capped.bytes, 31)).resolves.toBe(1); // up to 32 pages = 2 MiB
    await expect(grow(capped.bytes, 32)).rejects.toThrowError(RangeError);
  });

  it('lowers a larger maximum and keeps a smaller one', async () => {
    await expect(grow(capMemory(moduleWithMemory(1, 100), 2 * MiB).bytes, 40)).rejects.toThrowError(RangeError);
    await expect(grow(capMemory(moduleWithMemory(1, 4), 2 * MiB).bytes, 4)).rejects.toThrowError(RangeError);
    await expect(grow(capMemory(moduleWithMemory(1, 4), 2 * MiB).bytes, 3)).resolves.toBe(1);
  });

  it('refuses a module that starts above its cap, and bytes that are not a module', () => {
    expect(() => capMemory(moduleWithMemory(64), 2 * MiB)).toThrowError('memory 0 starts at 4 MiB, more than the 2 MiB limit');
    expect(() => capMemory(Uint8Array.from([1, 2, 3]), MiB)).toThrowError(MemoryCapError);
  });

  it('leaves a module without memories as it was', () => {
    const empty = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    expect(capMemory(empty, MiB).bytes).toEqual(empty);
  });
});

describe('the rate limit', () => {
  it('allows a burst, then the sustained rate', () => {
    const b = new TokenBucket(10, 2, 0);
    expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.waitMs(0)).toBe(100);
    expect(b.take(100)).toBe(true);
    expect(b.take(100)).toBe(false);
  });
});
