/**
 * The import names of a component, versions included, read straight from its binary.
 *
 * jco's transpile result lists imports without their versions ("wasi:cli/environment"), and its
 * glue looks them up that way too; the version a component was built against
 * ("wasi:cli/environment@0.2.6") is only in the component's own import section. That is all
 * this reads: the top-level sections are skipped by their sizes, nothing else is decoded.
 */
import { WasmReader } from './wasm-reader.js';

/** A component binary whose import section cannot be read; the message says where it broke. */
export class ComponentImportsError extends Error {
  override readonly name = 'ComponentImportsError';
}

const IMPORT_SECTION = 10;

/** Every top-level import name of a component, in binary order ("wasi:io/streams@0.2.3"). */
export function componentImportNames(bytes: Uint8Array): string[] {
  const r = new WasmReader(bytes, 0, bytes.length, (m) => new ComponentImportsError(m));
  r.preamble('component');
  const names: string[] = [];
  while (!r.done()) {
    const span = r.section();
    if (span.id === IMPORT_SECTION) {
      const body = r.body(span);
      for (let n = body.u32(); n > 0; n--) {
        names.push(importName(body));
        skipExternDesc(body);
      }
      body.finish('import section');
    }
    r.pos = span.end;
  }
  return names;
}

/** Split "wasi:cli/environment@0.2.3" into interface and version (undefined when unversioned). */
export function splitVersion(name: string): { iface: string; version: string | undefined } {
  const at = name.lastIndexOf('@');
  return at === -1 ? { iface: name, version: undefined } : { iface: name.slice(0, at), version: name.slice(at + 1) };
}

/** importname' ::= 0x00 name | 0x01 name versionsuffix' (the suffix is a hint; the name carries the version). */
function importName(r: WasmReader): string {
  const kind = r.byte();
  const name = r.name();
  if (kind === 0x01) r.name();
  else if (kind !== 0x00) throw r.error(`unknown import name kind 0x${kind.toString(16)}`);
  return name;
}

function skipExternDesc(r: WasmReader): void {
  const sort = r.byte();
  switch (sort) {
    case 0x00: // core module: 0x11 typeidx
      r.byte();
      r.u32();
      return;
    case 0x01: // func
    case 0x04: // component
    case 0x05: // instance
      r.u32();
      return;
    case 0x02: // value: (eq valueidx) | valtype
      if (r.byte() === 0x00) r.u32();
      else r.skipSigned(33);
      return;
    case 0x03: // type: (eq typeidx) | (sub resource)
      if (r.byte() === 0x00) r.u32();
      return;
    default:
      throw r.error(`unknown import kind 0x${sort.toString(16)}`);
  }
}
