import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeTempFile } from './atomic-file.js';
import { DataDirError, PROBLEM_TEXT, problemOf } from './storage-problem.js';
import { errnoOf, nodeFs, syncDirectory, type StoreFs } from './store-fs.js';
import { processIsAlive } from './temp-sweep.js';

/** The lock file's name inside the data directory. */
export const LOCK_FILE = 'greentic.lock';

/** What a lock file says about its holder. */
interface Holder {
  readonly pid: number;
  readonly host: string;
  /** The kernel's start time of the process (Linux, /proc), so that a reused pid is not taken for the holder. */
  readonly started: string | null;
  readonly since: string;
  readonly nonce: string;
}

/**
 * One instance per data directory: `serve` holds `<data>/greentic.lock` (pid, host, process start
 * time) while it runs. A second instance is refused with the holder's pid; a lock whose process
 * is gone (a kill -9, a crash, a reboot) is taken over. The file is created whole (temp file,
 * then link, which fails if one exists), and a takeover moves the stale file aside under a name
 * of its own and checks it moved the stale one, so two instances racing for it cannot both win.
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
    const file = join(dataDir, LOCK_FILE);
    const me: Holder = {
      pid: process.pid,
      host: hostname(),
      started: await startTimeOf(fs, process.pid),
      since: new Date().toISOString(),
      nonce: randomBytes(8).toString('hex'),
    };
    let tookOverFrom: number | undefined;
    for (let attempt = 0; attempt < 4; attempt++) {
      if (await tryCreate(fs, file, me)) return new DataDirLock(file, me, fs, tookOverFrom);
      const held = await readHolder(fs, file);
      if (held === 'absent') continue;
      if (held !== 'unreadable' && (await isRunning(fs, held))) {
        const where = held.host === me.host ? '' : ` on host ${held.host}`;
        throw new DataDirError(
          `data directory ${dataDir} is in use by another greentic-host (pid ${held.pid}${where}, since ${held.since}); stop it first, or use another --data` +
            (held.host === me.host ? '' : ` (if that host is gone, delete ${file})`),
        );
      }
      if (await moveStaleAside(fs, file, held)) tookOverFrom = held === 'unreadable' ? undefined : held.pid;
    }
    throw new DataDirError(`data directory ${dataDir}: could not take its lock ${file} (other instances are starting at the same time?)`);
  }

  /** Remove the lock if it is still this instance's. */
  async release(): Promise<void> {
    const held = await readHolder(this.fs, this.file).catch(() => 'absent' as const);
    if (typeof held !== 'object' || held.nonce !== this.holder.nonce) return;
    await this.fs.unlink(this.file).catch(() => undefined);
  }
}

async function tryCreate(fs: StoreFs, file: string, me: Holder): Promise<boolean> {
  let tmp: string;
  try {
    tmp = await writeTempFile(fs, file, Buffer.from(`${JSON.stringify(me)}\n`), 0o644);
  } catch (e) {
    throw new DataDirError(`cannot create the lock file ${file}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
  }
  try {
    await fs.link(tmp, file);
  } catch (e) {
    if (errnoOf(e) === 'EEXIST') return false;
    throw new DataDirError(`cannot create the lock file ${file}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
  await syncDirectory(fs, join(file, '..'));
  return true;
}

/** Move a stale lock aside; true if what was moved is the stale lock (false: someone else's fresh one, put back). */
async function moveStaleAside(fs: StoreFs, file: string, stale: Holder | 'unreadable'): Promise<boolean> {
  const aside = `${file}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await fs.rename(file, aside);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return false;
    throw new DataDirError(`cannot take over the stale lock ${file}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
  }
  const moved = await readHolder(fs, aside);
  const same = stale === 'unreadable' ? moved === 'unreadable' : typeof moved === 'object' && moved.nonce === stale.nonce;
  if (!same) {
    // Another instance took the lock between our look and our move: give it back.
    await fs.link(aside, file).catch(() => undefined);
  }
  await fs.unlink(aside).catch(() => undefined);
  return same;
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
