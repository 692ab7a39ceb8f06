import { mapGreenticManifest, type GreenticManifestResult } from '../manifest.js';
import { DEFAULT_PACK_LIMITS, PackError, readPackArchive, type PackFiles, type PackLimits } from './archive.js';
import { decodePackCbor } from './cbor-file.js';
import { checkSbom, readLock, sha256Hex } from './integrity.js';
import { parsePackManifest, type PackManifest } from './manifest.js';
import { checkSignature, type SignatureVerdict, type TrustedKey } from './signature.js';

/**
 * Open a .gtpack: the archive read under limits, manifest.cbor validated, every file checked
 * against the SBOM, every component against the lock, the signature against the trusted keys.
 * Nothing of a pack is used before all of that holds; the first thing that does not is a
 * PackError naming the pack and the entry.
 */

/** One component of an opened pack. */
export interface PackComponent {
  readonly id: string;
  /** Its entry in manifest.cbor (a Greentic component manifest, symbols resolved). */
  readonly declaration: Record<string, unknown>;
  /** components/<id>.wasm; undefined when the pack refers to it (an OCI digest) instead of holding it. */
  readonly wasm: Buffer | undefined;
  readonly wasmFile: string;
  readonly sha256: string | undefined;
  /** Where the lock says it came from (file://, oci://, ...). */
  readonly lockRef: string | undefined;
  /** The pack's declaration of it mapped onto a component manifest, or why it cannot be. */
  readonly mapped: GreenticManifestResult;
}

export interface OpenedPack {
  readonly file: string;
  readonly bytes: number;
  readonly manifest: PackManifest;
  readonly components: readonly PackComponent[];
  readonly signature: SignatureVerdict;
  /** Which SBOM pinned the files, if any. */
  readonly sbom: string | undefined;
  /** Every file of the archive and its size. */
  readonly entries: ReadonlyMap<string, number>;
}

export interface OpenPackOptions {
  /** Keys a signature must be by; 'unchecked' checks everything but the key (to show a pack). */
  readonly trusted?: readonly TrustedKey[] | 'unchecked';
  readonly requireSigned?: boolean;
  readonly limits?: PackLimits;
}

/** Open the pack `bytes` (shown as `shown` in every error); throws PackError. */
export async function openPack(bytes: Buffer, shown: string, opts: OpenPackOptions = {}): Promise<OpenedPack> {
  const files = await readPackArchive(bytes, shown, opts.limits ?? DEFAULT_PACK_LIMITS);
  const manifestBytes = files.get('manifest.cbor');
  if (!manifestBytes) throw new PackError(`${shown}: has no manifest.cbor (is it a pack built by greentic-pack?)`);
  const manifest = parsePackManifest(decodePackCbor(manifestBytes, `${shown}: manifest.cbor`), `${shown}: manifest.cbor`);
  const sbom = await checkSbom(files, shown);
  const lock = readLock(files, shown);
  for (const id of lock.keys()) {
    if (!manifest.components.some((c) => c.id === id))
      throw new PackError(`${shown}: pack.lock.cbor: locks component "${id}", which manifest.cbor does not declare`);
  }
  checkComponentManifests(files, manifest, shown);
  const signature = checkSignature(files, sbom, opts.trusted ?? [], shown);
  if (opts.requireSigned && signature.state === 'unsigned')
    throw new PackError(`${shown}: the pack is not signed (${'signatures/pack.sig'} is missing) and signed packs are required`);

  const components = manifest.components.map((c): PackComponent => {
    const wasmFile = `components/${c.id}.wasm`;
    const wasm = files.get(wasmFile);
    const locked = lock.get(c.id);
    const sha256 = wasm ? sha256Hex(wasm) : locked?.sha256;
    if (wasm) {
      // The lock and the SBOM each pin the bytes where they list them; a component pinned by neither is not used.
      if (locked?.sha256 !== undefined && locked.sha256 !== sha256) {
        throw new PackError(`${shown}: ${wasmFile}: sha256 ${sha256} does not match the lock's resolved_digest sha256:${locked.sha256}`);
      }
      if (locked?.sha256 === undefined && sbom?.hashes.get(wasmFile) === undefined) {
        throw new PackError(`${shown}: ${wasmFile}: neither pack.lock.cbor nor the SBOM pins its digest`);
      }
      // checkSbom hashed every file it lists and refused any it leaves out: listed means matched.
      if (sbom && !sbom.hashes.has(wasmFile)) throw new PackError(`${shown}: ${wasmFile}: does not match its SBOM entry`);
    }
    const where = `${shown}: manifest.cbor: components[${manifest.components.indexOf(c)}]`;
    const mapped = mapGreenticManifest({ ...c.declaration, name: c.id }, where, c.id, { wasm: wasmFile, sha256 });
    return { id: c.id, declaration: c.declaration, wasm, wasmFile, sha256, lockRef: locked?.ref, mapped };
  });
  return {
    file: shown,
    bytes: bytes.length,
    manifest,
    components,
    signature,
    sbom: sbom?.file,
    entries: new Map([...files].map(([name, data]) => [name, data.length])),
  };
}

/** Each component manifest file the manifest names is in the pack with the sha256 it says. */
function checkComponentManifests(files: PackFiles, manifest: PackManifest, shown: string): void {
  for (const ref of manifest.componentManifests) {
    const at = `${shown}: manifest.cbor: extensions.greentic.pack.component_manifests@v1`;
    if (!manifest.components.some((c) => c.id === ref.componentId)) throw new PackError(`${at}: names component "${ref.componentId}", which is not declared`);
    const data = files.get(ref.file);
    if (!data) throw new PackError(`${at}: names "${ref.file}", which is not in the pack`);
    const actual = sha256Hex(data);
    if (actual !== ref.sha256) throw new PackError(`${shown}: ${ref.file}: sha256 ${actual} does not match the manifest's content_hash sha256:${ref.sha256}`);
  }
}
