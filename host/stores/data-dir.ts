import { join } from 'node:path';
import { tempNameFor } from './atomic-file.js';
import type { Logger } from '../observability/logger.js';
import { DataDirLock } from './data-dir-lock.js';
import { DataDirError, PROBLEM_TEXT, problemOf } from './storage-problem.js';
import { errnoOf, nodeFs, type StoreFs } from './store-fs.js';
import { sweepTempFiles } from './temp-sweep.js';

export { DataDirError };

/** What a check of the data directory found that does not stop a start. */
export interface DataDirCheck {
  /** The disk is full: the host starts (reads work, writes are refused until space returns). */
  readonly diskFull: boolean;
}

const ADVICE: Partial<Record<string, string>> = {
  'read-only': 'remount it read-write, or choose another with --data',
  'no-permission': `give this user (uid ${process.getuid?.() ?? '?'}) write access, or choose another with --data`,
  missing: 'a part of its path is not a directory; choose another with --data',
};

/**
 * Get the data directory of embedded stores ready: check it (checkDataDir), take its lock if
 * asked (`serve`), and sweep the temp files of secret and key writes a dead process left, in
 * the background (the session store sweeps its own). Returns the lock, if taken.
 */
export async function openDataDir(dir: string, opts: { lock: boolean; logger: Logger }): Promise<DataDirLock | undefined> {
  const check = await checkDataDir(dir);
  if (check.diskFull)
    opts.logger.error({ event: 'store-failing', problem: 'disk-full', dir }, 'the data directory has no space left; turns are refused until there is');
  const lock = opts.lock ? await DataDirLock.acquire(dir) : undefined;
  if (lock?.tookOverFrom !== undefined) {
    opts.logger.warn({ event: 'lock-taken-over', pid: lock.tookOverFrom, file: lock.file }, 'took over the data directory lock of a process that is gone');
  }
  void sweepDataDir(dir, opts.logger);
  return lock;
}

async function sweepDataDir(dir: string, logger: Logger): Promise<void> {
  try {
    const removed = (await sweepTempFiles(nodeFs, join(dir, 'secrets'), 3)) + (await sweepTempFiles(nodeFs, dir, 0));
    if (removed > 0) logger.info({ event: 'temp-files-removed', files: removed }, 'removed temp files of writes a dead process left');
  } catch (e) {
    logger.warn({ event: 'temp-sweep-failed', err: (e as Error).message }, 'could not sweep old temp files; they are harmless');
  }
}

/**
 * Check, before anything is read or written, that `dir` (and the store folders in it that exist)
 * can be written: created if missing, a directory, and taking a small file. A read-only, foreign
 * or non-directory data dir is a DataDirError naming it and the problem; a full disk is not
 * (the host starts and recovers by itself when space returns).
 */
export async function checkDataDir(dir: string, fs: StoreFs = nodeFs): Promise<DataDirCheck> {
  const notADirectory = new DataDirError(`data directory ${dir} is not a directory; choose another with --data`);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    if (errnoOf(e) === 'EEXIST') throw notADirectory;
    throw unusable(dir, e, 'cannot be created');
  }
  const st = await fs.stat(dir).catch((e: unknown) => {
    throw unusable(dir, e, 'cannot be read');
  });
  if (!st.isDirectory()) throw notADirectory;
  let diskFull = false;
  for (const sub of ['', 'sessions', join('sessions', '.journal'), 'secrets']) {
    const where = join(dir, sub);
    const exists =
      sub === '' ||
      (await fs.stat(where).then(
        (s) => s.isDirectory(),
        () => false,
      ));
    if (!exists) continue;
    const full = await probeWrite(fs, where).catch((e: unknown) => {
      throw unusable(where, e, 'cannot be written', sub === '' ? undefined : dir);
    });
    diskFull ||= full;
  }
  return { diskFull };
}

/** Create, sync and remove a small file in `dir`; true if the disk is full (which is not fatal). */
async function probeWrite(fs: StoreFs, dir: string): Promise<boolean> {
  // A temp-file name: a probe a crash leaves behind is swept like any other.
  const probe = tempNameFor(join(dir, '.probe'));
  try {
    const fh = await fs.open(probe, 'wx', 0o600);
    try {
      await fh.write(Buffer.from('ok'), 0, 2, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return false;
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    throw e;
  } finally {
    await fs.unlink(probe).catch(() => undefined);
  }
}

function unusable(path: string, e: unknown, what: string, dataDir?: string): DataDirError {
  const problem = problemOf(e);
  const code = errnoOf(e);
  const name = dataDir === undefined ? `data directory ${path}` : `${path} (in data directory ${dataDir})`;
  const advice = ADVICE[problem] ?? 'choose another with --data';
  return new DataDirError(`${name} ${what}: ${PROBLEM_TEXT[problem]}${code ? ` (${code})` : ''}; ${advice}`);
}
