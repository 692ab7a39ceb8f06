/**
 * A bounded reader over WebAssembly binary bytes (core modules and components). Every read is
 * checked against the end of its range, every LEB128 number has a bounded length, and nothing
 * is allocated from a count the bytes declare: a loop over a declared count reads its items one
 * by one, so hostile bytes (an overlong LEB128, a count of 2^32, a section that runs past the
 * file) end in a WasmFormatError naming the byte, never in a hang or a huge allocation.
 */

/** Bytes that are not the WebAssembly binary the reader expected; the message says where. */
export class WasmFormatError extends Error {
  override readonly name = 'WasmFormatError';
}

/** A section's id and its byte range [start, end) in the whole binary. */
export interface SectionSpan {
  readonly id: number;
  /** Where the section's header (its id byte) starts. */
  readonly at: number;
  readonly start: number;
  readonly end: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A cursor over `bytes[pos, end)`; errors come from `fail`, so callers keep their own error class. */
export class WasmReader {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    pos = 0,
    readonly end = bytes.length,
    private readonly fail: (message: string) => Error = (m) => new WasmFormatError(m),
  ) {
    this.pos = pos;
  }

  /** An error about the current position. */
  error(what: string): Error {
    return this.fail(`${what} at byte ${this.pos}`);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw this.error('unexpected end');
    return this.bytes[this.pos++]!;
  }

  /** An unsigned LEB128 of at most 32 bits (at most 5 bytes, the last one at most 0x0f). */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const at = this.pos;
      const b = this.byte();
      if (shift === 28 && b > 0x0f) {
        this.pos = at;
        throw this.error('LEB128 number does not fit in 32 bits');
      }
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw this.error('LEB128 number too long');
  }

  /** Skip a signed LEB128 of at most `bits` bits (32, 33 or 64). */
  skipSigned(bits: 32 | 33 | 64): void {
    const max = Math.ceil(bits / 7);
    for (let i = 0; i < max; i++) if ((this.byte() & 0x80) === 0) return;
    throw this.error('LEB128 number too long');
  }

  /** Skip `n` bytes. */
  skip(n: number): void {
    if (n > this.end - this.pos) throw this.error(`${n} bytes run past the end`);
    this.pos += n;
  }

  /** A length-prefixed byte string (a view, not a copy). */
  vecBytes(): Uint8Array {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    return this.bytes.subarray(start, start + len);
  }

  /** A length-prefixed UTF-8 name. */
  name(): string {
    const at = this.pos;
    const raw = this.vecBytes();
    try {
      return utf8.decode(raw);
    } catch {
      this.pos = at;
      throw this.error('name is not valid UTF-8');
    }
  }

  /** Check the 8-byte preamble: magic, then `version` (1 for a core module; 0x0d, layer 1 for a component). */
  preamble(kind: 'module' | 'component'): void {
    const b = this.bytes;
    const magic = b.length >= 8 && b[0] === 0x00 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d;
    const layer = magic ? b[6]! | (b[7]! << 8) : -1;
    if (!magic || layer !== (kind === 'module' ? 0 : 1)) throw this.fail(kind === 'module' ? 'not a WebAssembly core module' : 'not a WebAssembly component');
    if (kind === 'module' && (b[4] !== 1 || b[5] !== 0)) throw this.fail(`unknown core module version ${b[4]! | (b[5]! << 8)}`);
    this.pos = 8;
  }

  /** The next section's header; the reader is left at its body. */
  section(): SectionSpan {
    const at = this.pos;
    const id = this.byte();
    const size = this.u32();
    const start = this.pos;
    if (size > this.end - start) throw this.fail(`section ${id} at byte ${at} runs past the end of the file`);
    return { id, at, start, end: start + size };
  }

  /** A reader over `span`'s body that must consume it exactly; call `finish()` when done. */
  body(span: SectionSpan): WasmReader {
    return new WasmReader(this.bytes, span.start, span.end, this.fail);
  }

  /** Check that the reader consumed its whole range. */
  finish(what: string): void {
    if (this.pos !== this.end) throw this.fail(`${what} ends at byte ${this.pos}, expected ${this.end}`);
  }
}
