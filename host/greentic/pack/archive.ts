import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';

/**
 * A .gtpack's ZIP archive, read into memory under limits that hold while inflating: the entry
 * count is checked against the central directory before any entry is read, each entry's
 * declared size and compression ratio before it is inflated, and the inflated bytes are counted
 * as they stream (yauzl also refuses an entry whose bytes differ from its declared size), so a
 * zip bomb stops at the limit, never after it. Names are confined: a pack is never written to
 * disk, but its names become component ids, flow ids and log lines, so one grammar holds.
 */

/** Limits on what one pack may hold. */
export interface PackLimits {
  /** The .gtpack file itself. */
  readonly maxPackBytes: number;
  readonly maxEntries: number;
  /** One entry, inflated. */
  readonly maxEntryBytes: number;
  /** Every entry together, inflated. */
  readonly maxTotalBytes: number;
  /** Inflated / compressed, for entries above `ratioFloorBytes`. */
  readonly maxRatio: number;
  readonly ratioFloorBytes: number;
}

export const DEFAULT_PACK_LIMITS: PackLimits = {
  maxPackBytes: 64 * 1024 * 1024,
  maxEntries: 1000,
  maxEntryBytes: 64 * 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
  maxRatio: 100,
  ratioFloorBytes: 1024 * 1024,
};

/** A pack that cannot be used; the message names the pack file and what is wrong. */
export class PackError extends Error {
  override readonly name = 'PackError';
}

/** Longest entry name accepted (bytes of UTF-8). */
const MAX_NAME_BYTES = 512;
/** One path segment: letters, digits and `._@+-`, not starting with a dot (no `..`, no hidden files). */
const SEGMENT = /^[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*$/;

/** Why `name` is not a confined pack entry name, or undefined when it is one. */
export function entryNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'an empty name';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `a name longer than ${MAX_NAME_BYTES} bytes`;
  if (name.includes('\0')) return 'a NUL in its name';
  if (name.includes('\\')) return 'a backslash in its name';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'an absolute path';
  const segments = (name.endsWith('/') ? name.slice(0, -1) : name).split('/');
  if (segments.includes('..')) return 'a ".." segment (a path outside the pack)';
  const bad = segments.find((s) => !SEGMENT.test(s));
  if (bad !== undefined) return `the segment ${JSON.stringify(bad.slice(0, 60))} (segments are letters, digits and ._@+-, not starting with a dot)`;
  return undefined;
}

/** Every file of a pack by name (a null-prototype-free Map), folders left out. */
export type PackFiles = ReadonlyMap<string, Buffer>;

/** Read `bytes` (the pack `shown`) as a ZIP under `limits`; throws PackError naming the entry and the limit. */
export async function readPackArchive(bytes: Buffer, shown: string, limits: PackLimits = DEFAULT_PACK_LIMITS): Promise<PackFiles> {
  const fail = (why: string): never => {
    throw new PackError(`${shown}: ${why}`);
  };
  if (bytes.length > limits.maxPackBytes) fail(`is ${bytes.length} bytes, over the limit of ${limits.maxPackBytes}`);
  let zip: ZipFile;
  try {
    // Names stay bytes (decodeStrings: false): they are decoded and checked here, by one rule, with one kind of error.
    zip = await yauzl.fromBufferPromise(bytes, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true });
  } catch (e) {
    return fail(`not a ZIP archive (${zipWhy(e)})`);
  }
  if (zip.entryCount > limits.maxEntries) fail(`holds ${zip.entryCount} entries, over the limit of ${limits.maxEntries}`);
  const files = new Map<string, Buffer>();
  let total = 0;
  /** Bytes of the central directory the entries read so far take. */
  let directoryBytes = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      directoryBytes += CENTRAL_HEADER_BYTES + entry.fileNameLength + entry.extraFieldLength + entry.fileCommentLength;
      const name = entryName(entry);
      const problem = entryNameProblem(name);
      if (problem) fail(`entry ${JSON.stringify(name.slice(0, 80))} has ${problem}`);
      if (name.endsWith('/')) continue;
      if (files.has(name)) fail(`entry "${name}" is in the archive twice`);
      checkDeclared(entry, name, limits, total, fail);
      const data = await inflate(zip, entry, name, Math.min(limits.maxEntryBytes, limits.maxTotalBytes - total), fail);
      total += data.length;
      files.set(name, data);
    }
  } catch (e) {
    if (e instanceof PackError) throw e;
    return fail(`not a valid ZIP archive (${zipWhy(e)})`);
  } finally {
    zip.close();
  }
  // yauzl reads as many entries as the end record counts: a count lowered by damage or on purpose
  // would silently leave files out (a pack without its SBOM, a component without its wasm).
  const declared = centralDirectoryBytes(bytes);
  if (declared !== undefined && declared !== directoryBytes) {
    fail(`its end record counts ${zip.entryCount} entries, which take ${directoryBytes} of the central directory's ${declared} bytes (the archive is damaged)`);
  }
  return files;
}

/** A central directory file header without its name, extra field and comment. */
const CENTRAL_HEADER_BYTES = 46;

/**
 * The central directory's size as the end record (or the ZIP64 end record) gives it; undefined
 * when no end record is found (yauzl has refused such an archive already).
 */
function centralDirectoryBytes(bytes: Buffer): number | undefined {
  // The end record is the last one: 22 bytes and a comment of at most 65535, as yauzl looks for it.
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (bytes.readUInt32LE(at) !== 0x06054b50) continue;
    const size = bytes.readUInt32LE(at + 12);
    if (size !== 0xffffffff) return size;
    // ZIP64: the locator just before the end record points at the ZIP64 end record.
    if (at < 20 || bytes.readUInt32LE(at - 20) !== 0x07064b50) return undefined;
    const record = Number(bytes.readBigUInt64LE(at - 20 + 8));
    if (record + 56 > bytes.length || bytes.readUInt32LE(record) !== 0x06064b50) return undefined;
    return Number(bytes.readBigUInt64LE(record + 40));
  }
  return undefined;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** An entry's name as UTF-8 (what greentic-pack writes), or a name the name check refuses. */
function entryName(entry: Entry): string {
  const raw = entry.fileName as unknown as Buffer | string;
  if (typeof raw === 'string') return raw;
  try {
    return UTF8.decode(raw);
  } catch {
    return `\0(not UTF-8: ${raw.toString('hex').slice(0, 40)})`;
  }
}

/** Refuse an entry by its central-directory header, before a byte of it is inflated. */
function checkDeclared(entry: Entry, name: string, limits: PackLimits, total: number, fail: (why: string) => never): void {
  if (entry.isEncrypted()) fail(`entry "${name}" is encrypted`);
  if (!entry.canDecodeFileData()) fail(`entry "${name}" uses compression method ${entry.compressionMethod} (stored and deflate are read)`);
  if (entry.uncompressedSize > limits.maxEntryBytes)
    fail(`entry "${name}" is ${entry.uncompressedSize} bytes inflated, over the limit of ${limits.maxEntryBytes}`);
  if (total + entry.uncompressedSize > limits.maxTotalBytes) fail(`entries up to "${name}" are over ${limits.maxTotalBytes} bytes inflated in all`);
  if (entry.uncompressedSize >= limits.ratioFloorBytes && entry.uncompressedSize > limits.maxRatio * Math.max(1, entry.compressedSize)) {
    fail(`entry "${name}" inflates ${entry.compressedSize} bytes to ${entry.uncompressedSize}, a ratio over ${limits.maxRatio} (a zip bomb)`);
  }
}

/** An entry's bytes, counted as they inflate: past `max` the stream is destroyed. */
async function inflate(zip: ZipFile, entry: Entry, name: string, max: number, fail: (why: string) => never): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    const stream = await zip.openReadStreamPromise(entry);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        stream.destroy();
        fail(`entry "${name}" inflates past ${max} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof PackError) throw e;
    fail(`entry "${name}" cannot be read (${zipWhy(e)})`);
  }
  const data = Buffer.concat(chunks, size);
  // yauzl checks sizes, not checksums: a flipped bit is caught here, before any digest is computed over it.
  if (crc32(data) !== entry.crc32) fail(`entry "${name}" fails its CRC-32 check (the archive is damaged)`);
  return data;
}

/** yauzl's reason, one line. */
function zipWhy(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);
}
