import { CborError, decodeCbor } from '../cbor.js';
import { cborItemCount } from '../cbor-items.js';
import { PackError } from './archive.js';

/** Data items one CBOR file of a pack may hold (manifest, lock, SBOM, component manifests). */
export const MAX_PACK_CBOR_ITEMS = 200_000;
/** Bytes one such file may have. */
export const MAX_PACK_CBOR_BYTES = 4 * 1024 * 1024;

/**
 * Decode one CBOR file of a pack, counted before it is decoded (a byte of CBOR can cost dozens
 * of bytes of heap) and refused with the pack and entry named, never a raw decoder error.
 */
export function decodePackCbor(bytes: Buffer, where: string): unknown {
  if (bytes.length > MAX_PACK_CBOR_BYTES) throw new PackError(`${where}: ${bytes.length} bytes, over the limit of ${MAX_PACK_CBOR_BYTES}`);
  if (cborItemCount(bytes, MAX_PACK_CBOR_ITEMS) > MAX_PACK_CBOR_ITEMS) throw new PackError(`${where}: more than ${MAX_PACK_CBOR_ITEMS} CBOR items`);
  let value: unknown;
  try {
    value = decodeCbor(bytes);
  } catch (e) {
    // A nesting deep enough to overflow the decoder's stack is a RangeError, not a CborError.
    const why = e instanceof CborError || e instanceof RangeError ? e.message : String(e);
    throw new PackError(`${where}: not valid CBOR (${why.split('\n')[0]!.slice(0, 160)})`);
  }
  if (value === undefined) throw new PackError(`${where}: empty`);
  return value;
}
