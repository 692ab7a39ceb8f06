import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { nodeFs, syncDirectory, writeAll, type StoreFs } from './store-fs.js';

export interface AtomicWriteOptions {
  readonly mode?: number;
  /** Sync the directory after the rename (default true); a caller writing many files may sync each directory once itself. */
  readonly syncDir?: boolean;
  readonly fs?: StoreFs;
}

/** The temp-file name a writer of `file` uses: `<file>.tmp-<pid>-<12 hex>`, so a sweep at start can tell a dead writer's leftovers. */
export function tempNameFor(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Matches the temp-file names `tempNameFor` makes; group 1 is the writer's pid. */
export const TEMP_NAME = /\.tmp-(\d+)-[0-9a-f]{12}$/;

/**
 * Write `data` to `file` so that readers see the old content or the new, never half:
 * a private temp file in the same directory, every byte written (short writes continued),
 * fsync, rename over the target, fsync the directory. On any failure the temp file is
 * removed and the error thrown: the target is untouched.
 */
export async function writeFileAtomic(file: string, data: Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const fs = opts.fs ?? nodeFs;
  const dir = dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = await writeTempFile(fs, file, data, opts.mode ?? 0o600);
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  if (opts.syncDir ?? true) await syncDirectory(fs, dir);
}

/** Write `data` durably to a fresh temp file beside `file` and return its name; nothing is left behind if that fails. */
export async function writeTempFile(fs: StoreFs, file: string, data: Uint8Array, mode: number): Promise<string> {
  const tmp = tempNameFor(file);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await writeAll(fh, data, 0);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  try {
    await fh.close();
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  return tmp;
}
