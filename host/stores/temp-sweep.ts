import { join } from 'node:path';
import { TEMP_NAME } from './atomic-file.js';
import { errnoOf, readdirIfExists, type StoreFs } from './store-fs.js';

/** True while a process with this pid runs (EPERM: it runs, as another user). */
export function processIsAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM';
  }
}

/**
 * Remove the temp files of atomic writes whose writer is gone (a kill -9 mid-checkpoint leaves
 * `<file>.tmp-<pid>-<random>`): in `dir` and its subdirectories down to `depth` levels, skipping
 * folders whose name starts with "." (the journal, the quarantine). A temp file of a live process
 * (this one included) is left alone: it may be mid-write. Returns how many were removed.
 */
export async function sweepTempFiles(fs: StoreFs, dir: string, depth: number): Promise<number> {
  const names = await readdirIfExists(fs, dir);
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    const temp = TEMP_NAME.exec(name);
    if (temp) {
      const pid = Number(temp[1]);
      if (pid === process.pid || processIsAlive(pid)) continue;
      await fs.rm(path, { force: true });
      removed++;
      continue;
    }
    if (depth > 0 && !name.startsWith('.')) {
      const st = await fs.lstat(path).catch(() => undefined);
      if (st?.isDirectory()) removed += await sweepTempFiles(fs, path, depth - 1);
    }
  }
  return removed;
}
