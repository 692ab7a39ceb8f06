/**
 * The import names of a component, versions included, read straight from its binary.
 *
 * jco's transpile result lists imports without their versions ("wasi:cli/environment"), and its
 * glue looks them up that way too; the version a component was built against
 * ("wasi:cli/environment@0.2.6") is only in the component's own import section. That is all
 * this reads: the top-level sections are skipped by their sizes, nothing else is decoded.
 */

/** A component binary whose import section cannot be read; the message says where it broke. */
export class ComponentImportsError extends Error {
  override readonly name = 'ComponentImportsError';
}

const IMPORT_SECTION = 10;

/** Every top-level import name of a component, in binary order ("wasi:io/streams@0.2.3"). */
export function componentImportNames(bytes: Uint8Array): string[] {
  const r = new Reader(bytes);
  r.expectPreamble();
  const names: string[] = [];
  while (!r.done()) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (end > bytes.length) throw new ComponentImportsError(`section ${id} at byte ${r.pos} runs past the end of the file`);
    if (id === IMPORT_SECTION) {
      for (let n = r.u32(); n > 0; n--) {
        names.push(r.importName());
        r.skipExternDesc();
      }
      if (r.pos !== end) throw new ComponentImportsError(`import section ends at byte ${r.pos}, expected ${end}`);
    }
    r.pos = end;
  }
  return names;
}

/** Split "wasi:cli/environment@0.2.3" into interface and version (undefined when unversioned). */
export function splitVersion(name: string): { iface: string; version: string | undefined } {
  const at = name.lastIndexOf('@');
  return at === -1 ? { iface: name, version: undefined } : { iface: name.slice(0, at), version: name.slice(at + 1) };
}

class Reader {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  done(): boolean {
    return this.pos >= this.bytes.length;
  }

  byte(): number {
    if (this.pos >= this.bytes.length) throw new ComponentImportsError(`unexpected end of file at byte ${this.pos}`);
    return this.bytes[this.pos++]!;
  }

  /** An unsigned LEB128 of at most 32 bits. */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new ComponentImportsError(`LEB128 number too long at byte ${this.pos}`);
  }

  /** A signed LEB128 of at most 33 bits (a valtype); only its length matters here. */
  s33(): void {
    for (let i = 0; i < 5; i++) if ((this.byte() & 0x80) === 0) return;
    throw new ComponentImportsError(`LEB128 number too long at byte ${this.pos}`);
  }

  name(): string {
    const len = this.u32();
    if (this.pos + len > this.bytes.length) throw new ComponentImportsError(`name at byte ${this.pos} runs past the end of the file`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(this.pos, this.pos + len));
    } catch {
      throw new ComponentImportsError(`name at byte ${this.pos} is not valid UTF-8`);
    }
    this.pos += len;
    return text;
  }

  expectPreamble(): void {
    const b = this.bytes;
    if (b.length < 8 || b[0] !== 0x00 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d || b[6] !== 0x01 || b[7] !== 0x00) {
      throw new ComponentImportsError('not a WebAssembly component');
    }
    this.pos = 8;
  }

  /** importname' ::= 0x00 name | 0x01 name versionsuffix' (the suffix is a hint; the name carries the version). */
  importName(): string {
    const kind = this.byte();
    const name = this.name();
    if (kind === 0x01) this.name();
    else if (kind !== 0x00) throw new ComponentImportsError(`unknown import name kind 0x${kind.toString(16)} at byte ${this.pos}`);
    return name;
  }

  skipExternDesc(): void {
    const sort = this.byte();
    switch (sort) {
      case 0x00: // core module: 0x11 typeidx
        this.byte();
        this.u32();
        return;
      case 0x01: // func
      case 0x04: // component
      case 0x05: // instance
        this.u32();
        return;
      case 0x02: // value: (eq valueidx) | valtype
        if (this.byte() === 0x00) this.u32();
        else this.s33();
        return;
      case 0x03: // type: (eq typeidx) | (sub resource)
        if (this.byte() === 0x00) this.u32();
        return;
      default:
        throw new ComponentImportsError(`unknown import kind 0x${sort.toString(16)} at byte ${this.pos}`);
    }
  }
}
