import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeTempFile } from './atomic-file.js';
import { DataDirError, PROBLEM_TEXT, problemOf } from './storage-problem.js';
import { errnoOf, nodeFs, syncDirectory, type StoreFs } from './store-fs.js';
import { processIsAlive, sweepTempFiles } from './temp-sweep.js';

/** The lock's folder inside the data directory: the lock is the highest-numbered file in it. */
export const LOCK_DIR = 'greentic.lock';

/** What a lock file says about its holder. */
interface Holder {
  readonly pid: number;
  readonly host: string;
  /** The kernel's start time of the process (Linux, /proc), so that a reused pid is not taken for the holder. */
  readonly started: string | null;
  readonly since: string;
  readonly nonce: string;
}

const GENERATION = /^\d{9}$/;

/**
 * One instance per data directory: `serve` holds the lock (pid, host, process start time) while it
 * runs; a second instance is refused with the holder's pid, and a lock whose process is gone (a
 * kill -9, a crash, a reboot) is taken over. The lock is the highest-numbered file in
 * `<data>/greentic.lock/`: a start with none there creates 000000001, a takeover of a stale N
 * creates N+1. Each is created whole and exclusively (a temp file, then link(), which fails if
 * the name exists), so of any number of instances racing for one generation exactly one wins,
 * and no taker ever moves or deletes a lock that is not stale.
 */
export class DataDirLock {
  private constructor(
    readonly file: string,
    private readonly holder: Holder,
    private readonly fs: StoreFs,
    /** The pid of the dead holder this lock was taken over from, if any. */
    readonly tookOverFrom: number | undefined,
  ) {}

  static async acquire(dataDir: string, fs: StoreFs = nodeFs): Promise<DataDirLock> {
    const dir = join(dataDir, LOCK_DIR);
    const me: Holder = {
      pid: process.pid,
      host: hostname(),
      started: await startTimeOf(fs, process.pid),
      since: new Date().toISOString(),
      nonce: randomBytes(8).toString('hex'),
    };
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new DataDirError(`cannot create the lock folder ${dir}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
    }
    for (let attempt = 0; attempt < 8; attempt++) {
      const generations = (await fs.readdir(dir)).filter((n) => GENERATION.test(n)).sort();
      const top = generations.at(-1);
      if (top === undefined) {
        const file = await tryCreate(fs, dir, 1, me);
        if (file) return DataDirLock.#held(dir, file, me, fs, undefined);
        continue;
      }
      const held = await readHolder(fs, join(dir, top));
      if (held === 'absent') continue;
      if (held !== 'unreadable' && (await isRunning(fs, held))) {
        const where = held.host === me.host ? '' : ` on host ${held.host}`;
        throw new DataDirError(
          `data directory ${dataDir} is in use by another greentic-host (pid ${held.pid}${where}, since ${held.since}); stop it first, or use another --data` +
            (held.host === me.host ? '' : ` (if that host is gone, delete ${join(dir, top)})`),
        );
      }
      const file = await tryCreate(fs, dir, Number(top) + 1, me);
      if (!file) continue; // another instance took this generation first
      // The stale generations below ours are nobody's now.
      for (const g of generations) await fs.unlink(join(dir, g)).catch(() => undefined);
      return DataDirLock.#held(dir, file, me, fs, held === 'unreadable' ? undefined : held.pid);
    }
    throw new DataDirError(`data directory ${dataDir}: could not take its lock in ${dir} (other instances are starting at the same time?)`);
  }

  static async #held(dir: string, file: string, me: Holder, fs: StoreFs, tookOverFrom: number | undefined): Promise<DataDirLock> {
    // A taker killed between its temp file and its link left the temp file: ours to remove now.
    await sweepTempFiles(fs, dir, 0).catch(() => undefined);
    return new DataDirLock(file, me, fs, tookOverFrom);
  }

  /** Remove the lock if it is still this instance's. */
  async release(): Promise<void> {
    const held = await readHolder(this.fs, this.file).catch(() => 'absent' as const);
    if (typeof held !== 'object' || held.nonce !== this.holder.nonce) return;
    await this.fs.unlink(this.file).catch(() => undefined);
  }
}

/** Create generation `n` whole, or return null if it exists already. */
async function tryCreate(fs: StoreFs, dir: string, n: number, me: Holder): Promise<string | null> {
  const file = join(dir, String(n).padStart(9, '0'));
  let tmp: string;
  try {
    tmp = await writeTempFile(fs, join(dir, 'holder'), Buffer.from(`${JSON.stringify(me)}\n`), 0o644);
  } catch (e) {
    throw new DataDirError(`cannot create the lock file ${file}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
  }
  try {
    await fs.link(tmp, file);
  } catch (e) {
    if (errnoOf(e) === 'EEXIST') return null;
    throw new DataDirError(`cannot create the lock file ${file}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
  await syncDirectory(fs, dir);
  return file;
}

async function readHolder(fs: StoreFs, file: string): Promise<Holder | 'absent' | 'unreadable'> {
  let text: string;
  try {
    text = (await fs.readFile(file)).toString('utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return 'absent';
    throw new DataDirError(`cannot read the lock file ${file}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
  }
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (Number.isSafeInteger(h.pid) && typeof h.host === 'string' && typeof h.nonce === 'string' && typeof h.since === 'string') {
      return { pid: h.pid!, host: h.host, started: typeof h.started === 'string' ? h.started : null, since: h.since, nonce: h.nonce };
    }
  } catch {
    // fall through
  }
  return 'unreadable';
}

/** The holder's process still runs: same host, pid alive, and (where the kernel tells) the same process start time. */
async function isRunning(fs: StoreFs, h: Holder): Promise<boolean> {
  // Another host's process cannot be checked from here: assume it runs.
  if (h.host !== hostname()) return true;
  if (h.pid === process.pid || !processIsAlive(h.pid)) return false;
  if (h.started === null) return true;
  const now = await startTimeOf(fs, h.pid);
  return now === null || now === h.started;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null where there is no /proc. */
async function startTimeOf(fs: StoreFs, pid: number): Promise<string | null> {
  try {
    const stat = (await fs.readFile(`/proc/${pid}/stat`)).toString('latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
