/**
 * Greentic's pin of a component's bytes: `hashes.component_wasm: "blake3:<64 hex digits>"` in its
 * manifest, and the BLAKE3 digests of a pack's SBOM. Computed with @noble/hashes' BLAKE3 (Node's
 * crypto has none), which is JavaScript on the main thread: a few MB/s on a busy machine, so a
 * tenant's large component or pack would hold every other tenant's turns for seconds if hashed
 * in one piece. It is hashed a slice at a time, letting the event loop run between slices.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { blake3 } from '@noble/hashes/blake3.js';

/** Bytes hashed between two turns of the event loop (a few ms of work even on a busy machine). */
const SLICE_BYTES = 64 * 1024;

/** BLAKE3 of `bytes`, lower-case hex; other work runs between its slices. */
export async function blake3Hex(bytes: Uint8Array): Promise<string> {
  const hash = blake3.create();
  for (let at = 0; at < bytes.length; at += SLICE_BYTES) {
    if (at > 0) await yieldToLoop();
    hash.update(bytes.subarray(at, at + SLICE_BYTES));
  }
  return Buffer.from(hash.digest()).toString('hex');
}

/** Why `bytes` do not match the manifest's BLAKE3 `expected`, or null when they do. */
export async function blake3Mismatch(bytes: Uint8Array, expected: string): Promise<string | null> {
  const got = await blake3Hex(bytes);
  return got === expected ? null : `blake3 is ${got} but the manifest's hashes.component_wasm pins ${expected}`;
}
