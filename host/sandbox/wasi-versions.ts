import { splitVersion } from '../components/component-imports.js';

/**
 * Which WASI versions the sandbox serves. Every WASI interface is implemented by
 * @bytecodealliance/preview2-shim (0.26.1), written against WASI 0.2.3 (its typings say so;
 * test/unit/wasi-versions.test.ts checks). WASI 0.2.x releases only add, behind feature gates,
 * so a component built against another 0.2 patch (Rust's wasm32-wasip2 imports 0.2.3 to 0.2.6,
 * componentize-js 0.2.12) is served by the nearest, and only, 0.2 implementation we have; a
 * function it imports that the shim lacks still stops it when it is instantiated, by name.
 * Anything outside 0.2 (0.1, 0.3, pre-releases, no version) is refused when it loads.
 */
export const SERVED_WASI_VERSION = '0.2.3';

export type WasiVersionVerdict =
  /** Imported at exactly the served version. */
  | { readonly kind: 'served' }
  /** Another 0.2 patch, served by SERVED_WASI_VERSION. */
  | { readonly kind: 'mapped'; readonly from: string }
  | { readonly kind: 'refused'; readonly why: string };

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/;

/** How the sandbox serves one versioned WASI import name ("wasi:io/streams@0.2.6"). */
export function wasiVersionVerdict(name: string): WasiVersionVerdict {
  const { iface, version } = splitVersion(name);
  const served = `it serves WASI 0.2 (${iface}@${SERVED_WASI_VERSION}, to which other 0.2.x versions are mapped)`;
  if (version === undefined) return { kind: 'refused', why: `imports ${iface} without a version; ${served}` };
  const m = SEMVER.exec(version);
  if (!m) return { kind: 'refused', why: `imports ${name}, whose version is not a semantic version; ${served}` };
  if (m[4] !== undefined) return { kind: 'refused', why: `imports ${name}, a pre-release of WASI this host cannot serve; ${served}` };
  if (m[1] !== '0' || m[2] !== '2') return { kind: 'refused', why: `imports ${name}, a WASI version this host cannot serve; ${served}` };
  return version === SERVED_WASI_VERSION ? { kind: 'served' } : { kind: 'mapped', from: version };
}

/** The first WASI import among `names` the sandbox cannot serve, as a sentence, or null. */
export function wasiVersionRefusal(names: readonly string[]): string | null {
  for (const name of names) {
    if (!name.startsWith('wasi:')) continue;
    const v = wasiVersionVerdict(name);
    if (v.kind === 'refused') return v.why;
  }
  return null;
}

/** WASI imports served by another 0.2 patch than they name: "wasi:io/streams@0.2.6 -> 0.2.3". */
export function wasiVersionMappings(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    if (!name.startsWith('wasi:')) continue;
    if (wasiVersionVerdict(name).kind === 'mapped') out.push(`${name} -> ${SERVED_WASI_VERSION}`);
  }
  return out;
}
