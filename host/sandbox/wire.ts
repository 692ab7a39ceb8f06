/**
 * The little binary writer and reader the job codec uses on shared memory: fixed-width numbers
 * and length-prefixed UTF-8, bounds-checked on write (a record that does not fit throws
 * RangeError, which the codec turns into "too large").
 */
export class Writer {
  pos: number;
  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly limit: number,
  ) {
    this.pos = start;
  }
  #room(n: number): void {
    if (this.pos + n > this.limit) throw new RangeError('does not fit');
  }
  u8(v: number): void {
    this.#room(1);
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.#room(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }
  i32(v: number): void {
    this.#room(4);
    this.buf.writeInt32LE(v, this.pos);
    this.pos += 4;
  }
  f64(v: number): void {
    this.#room(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  str(s: string): void {
    // At most 3 bytes per UTF-16 unit: reserve that much, then write the real length.
    this.#room(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.pos);
    this.pos += 4 + n;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.#room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }
  u8(): number {
    return this.buf[this.pos++]!;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  str(): string {
    const n = this.u32();
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}
