/**
 * Greentic's pin of a component's bytes: `hashes.component_wasm: "blake3:<64 hex digits>"` in its
 * manifest. Checked with @noble/hashes' BLAKE3 (Node's crypto has none) whenever a manifest
 * carries one, besides the sha256 pin every tenant component has.
 */
import { blake3 } from '@noble/hashes/blake3.js';

/** BLAKE3 of `bytes`, lower-case hex. */
export function blake3Hex(bytes: Uint8Array): string {
  return Buffer.from(blake3(bytes)).toString('hex');
}

/** Why `bytes` do not match the manifest's BLAKE3 `expected`, or null when they do. */
export function blake3Mismatch(bytes: Uint8Array, expected: string): string | null {
  const got = blake3Hex(bytes);
  return got === expected ? null : `blake3 is ${got} but the manifest's hashes.component_wasm pins ${expected}`;
}
