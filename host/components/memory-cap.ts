/**
 * Cap the linear memories a core module defines, by rewriting the maximum in its memory
 * section before it is compiled. Worker `resourceLimits` do not bound wasm memory (it is an
 * ArrayBuffer); a declared maximum does: `memory.grow` past it fails inside the guest and the
 * host is unharmed.
 */

const PAGE = 64 * 1024;
const MEMORY_SECTION = 5;

/** A core module whose memory cannot fit under its cap, or bytes that are not a core module. */
export class MemoryCapError extends Error {
  override readonly name = 'MemoryCapError';
}

export interface CappedModule {
  readonly bytes: Uint8Array;
  /** Pages each defined memory starts with. */
  readonly initialPages: readonly number[];
}

/** Return `bytes` with every defined memory's maximum set to at most `maxBytes`. */
export function capMemory(bytes: Uint8Array, maxBytes: number): CappedModule {
  const maxPages = Math.max(1, Math.floor(maxBytes / PAGE));
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new MemoryCapError('not a WebAssembly module');
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  const initialPages: number[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos]!;
    const [size, sizeLen] = readLeb(bytes, pos + 1);
    const start = pos + 1 + sizeLen;
    const end = start + size;
    if (end > bytes.length) throw new MemoryCapError('truncated section');
    if (id !== MEMORY_SECTION) {
      parts.push(bytes.subarray(pos, end));
    } else {
      const body = rewriteMemories(bytes.subarray(start, end), maxPages, initialPages);
      parts.push(Uint8Array.of(MEMORY_SECTION), encodeLeb(body.length), body);
    }
    pos = end;
  }
  return { bytes: concat(parts), initialPages };
}

function rewriteMemories(section: Uint8Array, maxPages: number, initialPages: number[]): Uint8Array {
  const [count, countLen] = readLeb(section, 0);
  const out: Uint8Array[] = [encodeLeb(count)];
  let pos = countLen;
  for (let i = 0; i < count; i++) {
    const flags = section[pos++]!;
    if (flags & 0x04) throw new MemoryCapError('64-bit memories are not supported');
    const [min, minLen] = readLeb(section, pos);
    pos += minLen;
    let max: number | undefined;
    if (flags & 0x01) {
      const [m, mLen] = readLeb(section, pos);
      max = m;
      pos += mLen;
    }
    if (min > maxPages) {
      throw new MemoryCapError(`memory ${i} starts at ${mib(min)} MiB, more than the ${mib(maxPages)} MiB limit`);
    }
    initialPages.push(min);
    out.push(Uint8Array.of(flags | 0x01), encodeLeb(min), encodeLeb(Math.min(max ?? maxPages, maxPages)));
  }
  if (pos !== section.length) throw new MemoryCapError('malformed memory section');
  return concat(out);
}

const mib = (pages: number) => Math.round(((pages * PAGE) / (1024 * 1024)) * 10) / 10;

function readLeb(b: Uint8Array, at: number): [number, number] {
  let result = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    if (i >= b.length) throw new MemoryCapError('truncated LEB128');
    const byte = b[i++]!;
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [result, i - at];
    shift += 7;
    if (shift > 35) throw new MemoryCapError('LEB128 too long');
  }
}

function encodeLeb(n: number): Uint8Array {
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
