import { createHash } from 'node:crypto';
import { blake3Hex } from '../component-hash.js';
import { z } from 'zod';
import { joinPath } from '../../tenancy/config/problems.js';
import { PackError, type PackFiles } from './archive.js';
import { decodePackCbor } from './cbor-file.js';

/**
 * What pins a pack's bytes: the SBOM (sbom.cbor, or sbom.json in older packs: every file with its
 * size and BLAKE3) and the lock (pack.lock.cbor: each component's resolved sha256 digest). Every
 * digest is compared before a byte it covers is used.
 */

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');

const SbomSchema = z.looseObject({
  format: z.literal('greentic-sbom-v1'),
  files: z.array(z.looseObject({ path: z.string().min(1).max(512), size: z.number().int().min(0).optional(), hash_blake3: hex64 })).max(10_000),
});

const LockSchema = z.looseObject({
  version: z.literal(1),
  components: z.record(z.string().max(512), z.looseObject({ ref: z.string().max(4096).optional(), resolved_digest: z.string().optional() })).default({}),
});

/** The SBOM as read: its bytes (signed over) and each file's BLAKE3. */
export interface PackSbom {
  readonly file: 'sbom.cbor' | 'sbom.json';
  readonly bytes: Buffer;
  /** Path -> BLAKE3 hex, in the SBOM's order. */
  readonly hashes: ReadonlyMap<string, string>;
}

/** Files an SBOM does not list: itself and the signature files that are made after it. */
const UNLISTED = new Set(['sbom.cbor', 'sbom.json', 'signatures/pack.sig', 'signatures/chain.pem']);

/** Check the SBOM against the archive: each listed file is there with its size and BLAKE3, and no file is left out. Undefined when the pack has none. */
export async function checkSbom(files: PackFiles, shown: string): Promise<PackSbom | undefined> {
  const file = files.has('sbom.cbor') ? 'sbom.cbor' : files.has('sbom.json') ? 'sbom.json' : undefined;
  if (file === undefined) return undefined;
  const bytes = files.get(file)!;
  const where = `${shown}: ${file}`;
  let value: unknown;
  if (file === 'sbom.cbor') value = decodePackCbor(bytes, where);
  else {
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw new PackError(`${where}: not valid JSON (${(e as Error).message})`);
    }
  }
  const r = SbomSchema.safeParse(value);
  if (!r.success) throw new PackError(`${where}: ${joinPath(r.error.issues[0]!.path)}: ${r.error.issues[0]!.message}`);
  const hashes = new Map<string, string>();
  for (const [i, f] of r.data.files.entries()) {
    const data = files.get(f.path);
    if (!data) throw new PackError(`${where}: files[${i}]: lists "${f.path}", which is not in the pack`);
    if (hashes.has(f.path)) throw new PackError(`${where}: files[${i}]: lists "${f.path}" twice`);
    if (f.size !== undefined && f.size !== data.length) throw new PackError(`${where}: "${f.path}" is ${data.length} bytes, the SBOM says ${f.size}`);
    const actual = await blake3Hex(data);
    if (actual !== f.hash_blake3) throw new PackError(`${where}: "${f.path}" has BLAKE3 ${actual}, the SBOM says ${f.hash_blake3}`);
    hashes.set(f.path, f.hash_blake3);
  }
  for (const name of files.keys()) {
    if (!hashes.has(name) && !UNLISTED.has(name)) throw new PackError(`${where}: does not list "${name}", which is in the pack`);
  }
  return { file, bytes, hashes };
}

/** A component's entry in the lock: where it was resolved from and its sha256 (hex), if the lock pins it. */
export interface LockedComponent {
  readonly ref: string | undefined;
  readonly sha256: string | undefined;
}

/** Read pack.lock.cbor (component id -> what it pins); empty when the pack has no lock. */
export function readLock(files: PackFiles, shown: string): ReadonlyMap<string, LockedComponent> {
  const bytes = files.get('pack.lock.cbor');
  if (!bytes) return new Map();
  const where = `${shown}: pack.lock.cbor`;
  const r = LockSchema.safeParse(decodePackCbor(bytes, where));
  if (!r.success) throw new PackError(`${where}: ${joinPath(r.error.issues[0]!.path)}: ${r.error.issues[0]!.message}`);
  const out = new Map<string, LockedComponent>();
  for (const [id, c] of Object.entries(r.data.components)) {
    let sha256: string | undefined;
    if (c.resolved_digest !== undefined) {
      const m = /^sha256:([0-9a-f]{64})$/.exec(c.resolved_digest);
      if (!m) throw new PackError(`${where}: components.${id}.resolved_digest: expected "sha256:" and 64 lower-case hex digits`);
      sha256 = m[1];
    }
    out.set(id, { ref: c.ref, sha256 });
  }
  return out;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
