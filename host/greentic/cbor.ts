import { Decoder, Encoder } from 'cbor-x';

/**
 * CBOR as Greentic components speak it: plain RFC 8949 maps, arrays, text and integers, so a
 * Rust component (ciborium, serde_cbor) reads what we write. No cbor-x record extension, no
 * tagged typed arrays, minimal map headers.
 */
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** A guest's bytes that are not one CBOR value. */
export class CborError extends Error {
  override readonly name = 'CborError';
}

/**
 * Encode a JSON-like value. Whole numbers beyond 32 bits are written as CBOR integers (cbor-x
 * alone writes them as floats, which a Rust u64 field refuses).
 */
export function encodeCbor(value: unknown): Uint8Array {
  return encoder.encode(integersAsBigInt(value));
}

/** Decode exactly one CBOR value; empty bytes are `undefined` (no output). */
export function decodeCbor(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) return undefined;
  try {
    return decoder.decode(bytes);
  } catch (e) {
    throw new CborError((e as Error).message);
  }
}

/**
 * A decoded CBOR value as JSON can carry it: bigints as numbers when exact (else strings),
 * byte strings as { "$bytes": base64 }, undefined as null, Maps as objects.
 */
export function cborToJson(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(cborToJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), cborToJson(v)]));
  // fromEntries defines own properties: a guest's "__proto__" key stays a key, never a prototype.
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cborToJson(v)]));
  return String(value);
}

/** CBOR bytes as JSON: the decoded value, or the bytes themselves when they are not CBOR. */
export function cborBytesToJson(bytes: Uint8Array | undefined): unknown {
  if (bytes === undefined) return null;
  try {
    return cborToJson(decodeCbor(bytes));
  } catch {
    return cborToJson(bytes);
  }
}

function integersAsBigInt(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) && Math.abs(value) > 0xffffffff ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(integersAsBigInt);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, integersAsBigInt(v)]));
  }
  return value;
}
