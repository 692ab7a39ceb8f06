import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { blake3 } from '@noble/hashes/blake3.js';
import { z } from 'zod';
import { PackError, type PackFiles } from './archive.js';
import type { PackSbom } from './integrity.js';

/**
 * A pack's signature, as greentic-pack writes it: signatures/pack.sig, a JSON envelope whose
 * `digest` is BLAKE3 over manifest.cbor, the SBOM's bytes and each SBOM entry ("path\nhash",
 * sorted by path), and whose `sig` is an Ed25519 signature of that digest (base64url). Verified
 * only against keys the operator trusts; a signature by any other key is refused, never skipped.
 */

export const SIGNATURE_FILE = 'signatures/pack.sig';

const EnvelopeSchema = z.looseObject({
  alg: z.string(),
  sig: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'expected base64url without padding')
    .max(200),
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits'),
  signed_at_utc: z.string().max(100).optional(),
  key_fingerprint: z.string().max(200).nullable().optional(),
});

/** A key the operator trusts, and the file it came from (named in what is printed). */
export interface TrustedKey {
  readonly file: string;
  readonly key: KeyObject;
}

/** Read an Ed25519 public key (PEM, SPKI); throws PackError naming `file` when it is not one. */
export function trustedKey(pem: string, file: string): TrustedKey {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw new PackError(`${file}: not a PEM public key (${(e as Error).message.split('\n')[0]})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new PackError(`${file}: a ${key.asymmetricKeyType ?? 'unknown'} key; packs are signed with Ed25519`);
  return { file, key };
}

export type SignatureVerdict =
  | { readonly state: 'unsigned' }
  /** Signed, the digest matches the pack, the key not checked (inspect: no key asked for). */
  | { readonly state: 'signed'; readonly signedAt: string | undefined }
  | { readonly state: 'verified'; readonly keyFile: string; readonly signedAt: string | undefined };

/** The digest a pack's signature signs. */
export function packDigest(manifest: Uint8Array, sbom: PackSbom): Uint8Array {
  const h = blake3.create();
  h.update(manifest);
  h.update(sbom.bytes);
  for (const path of [...sbom.hashes.keys()].sort()) {
    h.update(Buffer.from(`${path}\n${sbom.hashes.get(path)!}`));
  }
  return h.digest();
}

/**
 * Check the pack's signature, if it has one, against `trusted` ('unchecked': every check but the
 * key's). Throws PackError when it is malformed, does not match the pack's bytes, or no trusted
 * key verifies it.
 */
export function checkSignature(files: PackFiles, sbom: PackSbom | undefined, trusted: readonly TrustedKey[] | 'unchecked', shown: string): SignatureVerdict {
  const bytes = files.get(SIGNATURE_FILE);
  if (!bytes) return { state: 'unsigned' };
  const where = `${shown}: ${SIGNATURE_FILE}`;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new PackError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const r = EnvelopeSchema.safeParse(value);
  if (!r.success) throw new PackError(`${where}: ${r.error.issues[0]!.path.join('.') || 'envelope'}: ${r.error.issues[0]!.message}`);
  const env = r.data;
  if (env.alg.toLowerCase() !== 'ed25519') throw new PackError(`${where}: algorithm "${env.alg.slice(0, 40)}" is not supported (ed25519 is)`);
  if (!sbom) throw new PackError(`${where}: the pack is signed but has no SBOM (sbom.cbor) for the signature to cover`);
  const digest = packDigest(files.get('manifest.cbor')!, sbom);
  if (Buffer.from(digest).toString('hex') !== env.digest)
    throw new PackError(`${where}: the signed digest does not match the pack's contents (the pack was changed after it was signed)`);
  const sig = Buffer.from(env.sig, 'base64url');
  if (sig.length !== 64) throw new PackError(`${where}: an Ed25519 signature is 64 bytes, this one is ${sig.length}`);
  if (trusted === 'unchecked') return { state: 'signed', signedAt: env.signed_at_utc };
  if (trusted.length === 0)
    throw new PackError(`${where}: the pack is signed, but no key is trusted to verify it (pass --trust KEY.pem, or trust the key in the tenant's config)`);
  const by = trusted.find((t) => verify(null, digest, t.key, sig));
  if (!by) throw new PackError(`${where}: the signature is not by any trusted key (${trusted.map((t) => t.file).join(', ')})`);
  return { state: 'verified', keyFile: by.file, signedAt: env.signed_at_utc };
}
