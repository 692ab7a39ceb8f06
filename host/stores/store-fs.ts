import { constants, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';

/** The part of an open file the stores use; node's FileHandle is one. */
export interface StoreFileHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  stat(): Promise<Stats>;
  truncate(len: number): Promise<void>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file operations the embedded stores make, as one object handed to them: node's
 * `fs/promises` in production, a layer that injects faults (short writes, ENOSPC, failing
 * fsync) in tests that cannot mount a small file system.
 */
export interface StoreFs {
  open(path: string, flags: string | number, mode?: number): Promise<StoreFileHandle>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string, opts: { recursive: true; mode?: number }): Promise<unknown>;
  rename(from: string, to: string): Promise<void>;
  link(existing: string, target: string): Promise<void>;
  rm(path: string, opts?: { force?: boolean; recursive?: boolean }): Promise<void>;
  unlink(path: string): Promise<void>;
  stat(path: string): Promise<Stats>;
  lstat(path: string): Promise<Stats>;
}

/** The real file system. */
export const nodeFs: StoreFs = {
  open: (path, flags, mode) => fsp.open(path, flags, mode),
  readFile: (path) => fsp.readFile(path),
  readdir: (path) => fsp.readdir(path),
  mkdir: (path, opts) => fsp.mkdir(path, opts),
  rename: (from, to) => fsp.rename(from, to),
  link: (existing, target) => fsp.link(existing, target),
  rm: (path, opts) => fsp.rm(path, opts),
  unlink: (path) => fsp.unlink(path),
  stat: (path) => fsp.stat(path),
  lstat: (path) => fsp.lstat(path),
};

/** Open flags for reading a file that must be a regular file: no symlink followed, no FIFO waited on. */
export const READ_REGULAR = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Write all of `data` at `position`: `write()` may write less than asked (a nearly full disk
 * does), so loop until every byte is written; a write that makes no progress is ENOSPC.
 */
export async function writeAll(fh: StoreFileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw errnoError('ENOSPC', `write made no progress after ${done} of ${data.length} bytes`);
    done += bytesWritten;
  }
}

/** Read a whole regular file of at most `maxBytes`, or say why it is not one. */
export async function readRegularFile(fs: StoreFs, path: string, maxBytes: number): Promise<{ ok: true; bytes: Buffer } | { ok: false; problem: string }> {
  let fh: StoreFileHandle;
  try {
    fh = await fs.open(path, READ_REGULAR);
  } catch (e) {
    if (errnoOf(e) === 'ELOOP') return { ok: false, problem: 'is a symbolic link' };
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, problem: st.isDirectory() ? 'is a directory' : 'is not a regular file' };
    if (st.size > maxBytes) return { ok: false, problem: `is ${st.size} bytes, over the ${maxBytes}-byte limit` };
    const bytes = Buffer.alloc(st.size);
    let got = 0;
    while (got < bytes.length) {
      const { bytesRead } = await fh.read(bytes, got, bytes.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { ok: true, bytes: got === bytes.length ? bytes : bytes.subarray(0, got) };
  } finally {
    await fh.close();
  }
}

/** fsync a directory, so that the names created, renamed or removed in it are durable. */
export async function syncDirectory(fs: StoreFs, dir: string): Promise<void> {
  const dh = await fs.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** An Error carrying an errno code, as node's own fs errors do. */
export function errnoError(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${message}`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/** The errno code of a file-system error, if it has one. */
export function errnoOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The names in `dir`, or none when it (or a part of its path) does not exist; other errors are thrown. */
export async function readdirIfExists(fs: StoreFs, dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}
