import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { frames, noopBody, parseSegment, type ParsedSegment } from './journal-frame.js';
import { processIsAlive } from './temp-sweep.js';
import { errnoOf, nodeFs, readRegularFile, syncDirectory, writeAll, type StoreFileHandle, type StoreFs } from './store-fs.js';

interface Pending {
  readonly body: Uint8Array;
  readonly onDurable: (() => void) | undefined;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface Segment {
  readonly fh: StoreFileHandle;
  readonly path: string;
  /** Bytes durably written: every frame below this offset was acknowledged. */
  size: number;
  /** Number of the next frame. */
  seq: number;
  /** A failed write could not be undone (truncate failed): nothing more may be written after it. */
  broken: boolean;
}

/** Segment names: `<pid>-<instance>-<n>.log`, or `left-` and that for one a closed journal left to replay. */
const SEGMENT_NAME = /^(?:left-)?\d+-[0-9a-f]{8}-\d{6,}\.log$/;
const LEFT = 'left-';

/** Largest segment read at replay; a checkpoint starts a new one long before. */
const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;

/**
 * The session write-ahead journal of one process: entries are appended and made durable with
 * one fdatasync per batch (group commit: whatever arrives while a batch syncs goes in the next).
 * A batch is acknowledged only once every byte is written (short writes continued) and synced.
 * If a write or sync fails, the segment is truncated back to its acknowledged size before
 * anything else is written, so a segment never holds a torn frame followed by more frames; if
 * even that fails, the segment takes no more writes and the next batch goes to a new one.
 * Segments rotate at each checkpoint and are deleted once their sessions are in their own files.
 * Segments are named `<pid>-<instance>-<n>.log`, so a restart finds what a dead process left.
 */
export class SessionJournal {
  readonly #dir: string;
  readonly #fs: StoreFs;
  readonly #prefix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  #n = 0;
  #seg: Segment | undefined;
  /** Closed segments not yet covered by a checkpoint (dropped together by the next one that succeeds). */
  readonly #closedPaths: string[] = [];
  /** The next segment, created ahead of need: a file's creation costs a directory sync (~15 ms here), which no turn should wait for. */
  #spare: Promise<Segment> | undefined;
  #closed = false;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  /** A rotation waiting for the batch being written to end (swapping mid-batch would split it). */
  #swapTo: { readonly next: Segment; readonly done: () => void } | undefined;

  constructor(dir: string, fs: StoreFs = nodeFs) {
    this.#dir = dir;
    this.#fs = fs;
  }

  /** True while closed segments wait for a checkpoint to cover them (one failed, or is under way). */
  get hasClosedSegments(): boolean {
    return this.#closedPaths.length > 0;
  }

  /** Bytes acknowledged in the current segment (what a replay would read). */
  get size(): number {
    return this.#seg?.size ?? 0;
  }

  /**
   * Append one frame body; resolves once it is on disk, rejects with the file-system error if it
   * is not. `onDurable` runs synchronously as soon as the batch is synced, before any rotation
   * can close the segment: whatever it records is seen by the checkpoint that covers the segment.
   */
  append(body: Uint8Array, onDurable?: () => void): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the session journal is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ body, onDurable, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /** Write and sync a no-op frame: resolves when the disk takes writes again. */
  probe(): Promise<void> {
    return this.append(noopBody());
  }

  /**
   * Write and sync batches until none is pending. `#flushing` is cleared in the same
   * synchronous step that finds nothing pending: cleared later (in a `.finally`), an append
   * made by a continuation of the last batch's writers would see a flush still running and
   * wait for one that never comes.
   */
  async #flush(): Promise<void> {
    for (;;) {
      this.#swapIfAsked();
      if (this.#pending.length === 0) {
        this.#flushing = undefined;
        return;
      }
      const batch = this.#pending;
      this.#pending = [];
      try {
        await this.#write(batch.map((p) => p.body));
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      for (const p of batch) {
        try {
          p.onDurable?.();
          p.resolve();
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }

  async #write(bodies: Uint8Array[]): Promise<void> {
    if (this.#seg?.broken && !(await this.#repair(this.#seg))) this.#retire();
    if (!this.#seg) this.#seg = await this.#takeSpare();
    const seg = this.#seg;
    const bytes = frames(bodies, seg.seq);
    try {
      await writeAll(seg.fh, bytes, seg.size);
      await seg.fh.datasync();
    } catch (e) {
      // Undo the partial write before anything else lands after it.
      if (!(await this.#repair(seg))) seg.broken = true;
      throw e;
    }
    seg.size += bytes.length;
    seg.seq += bodies.length;
  }

  #swapIfAsked(): void {
    const ask = this.#swapTo;
    if (!ask) return;
    this.#swapTo = undefined;
    this.#swap(ask.next);
    ask.done();
  }

  #swap(next: Segment): void {
    this.#retire();
    this.#seg = next;
    this.prepare();
  }

  /** Cut the segment back to what was acknowledged; false if the disk refuses even that. */
  async #repair(seg: Segment): Promise<boolean> {
    try {
      await seg.fh.truncate(seg.size);
      await seg.fh.datasync();
      seg.broken = false;
      return true;
    } catch {
      return false;
    }
  }

  /** Stop writing to the current segment (it stays until a checkpoint covers it). */
  #retire(): void {
    const seg = this.#seg;
    if (!seg) return;
    this.#seg = undefined;
    this.#closedPaths.push(seg.path);
    seg.fh.close().catch(() => undefined);
  }

  /** Create the next segment now, so that the first write after a start or a rotation does not wait for it. */
  prepare(): void {
    if (this.#spare || this.#closed) return;
    const spare = this.#create();
    // A failure shows on the write that needs the segment, where it can be reported.
    spare.catch(() => {
      if (this.#spare === spare) this.#spare = undefined;
    });
    this.#spare = spare;
  }

  #takeSpare(): Promise<Segment> {
    const seg = this.#spare ?? this.#create();
    this.#spare = undefined;
    return seg;
  }

  /** A new, empty segment file whose directory entry is durable. */
  async #create(): Promise<Segment> {
    await this.#fs.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const path = join(this.#dir, `${this.#prefix}-${String(this.#n++).padStart(6, '0')}.log`);
    const fh = await this.#fs.open(path, 'wx', 0o600);
    try {
      await syncDirectory(this.#fs, this.#dir);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await this.#fs.rm(path, { force: true }).catch(() => undefined);
      throw e;
    }
    return { fh, path, size: 0, seq: 0, broken: false };
  }

  /**
   * Start a new segment for what follows, and return a function that deletes every segment
   * closed so far: call it once everything they hold is in the session files.
   */
  async rotate(): Promise<() => Promise<void>> {
    const next = await this.#takeSpare();
    // No batch may be mid-write on the segment being closed: swap only between batches (a busy
    // journal may never be idle, so the flush loop does it at the next batch boundary).
    if (this.#flushing) await new Promise<void>((done) => (this.#swapTo = { next, done }));
    else this.#swap(next);
    const covered = [...this.#closedPaths];
    return async () => {
      for (const path of covered) {
        await this.#fs.rm(path, { force: true });
        const i = this.#closedPaths.indexOf(path);
        if (i >= 0) this.#closedPaths.splice(i, 1);
      }
    };
  }

  /**
   * Stop: an empty segment is removed; one holding changes no checkpoint covered is renamed
   * `left-...`, so that the next store to open here replays it even in this same process.
   */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing) await this.#flushing;
    const seg = this.#seg;
    this.#seg = undefined;
    await seg?.fh.close().catch(() => undefined);
    if (seg && seg.size === 0 && !seg.broken) await this.#fs.rm(seg.path, { force: true }).catch(() => undefined);
    else if (seg) this.#closedPaths.push(seg.path);
    for (const path of this.#closedPaths.splice(0)) {
      const name = basename(path);
      await this.#fs.rename(path, join(this.#dir, `${LEFT}${name}`)).catch(() => undefined);
    }
    // A segment made ahead and never written goes too.
    const spare = await this.#spare?.catch(() => undefined);
    this.#spare = undefined;
    if (spare) {
      await spare.fh.close().catch(() => undefined);
      await this.#fs.rm(spare.path, { force: true }).catch(() => undefined);
    }
  }

  /** Segments left by processes that are gone, oldest first, with what they hold. */
  static async orphans(dir: string, fs: StoreFs = nodeFs): Promise<Array<{ file: string } & ParsedSegment>> {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return [];
      throw e;
    }
    const out: Array<{ file: string } & ParsedSegment> = [];
    for (const name of names.filter((n) => SEGMENT_NAME.test(n)).sort()) {
      // A live process (this one included: another store here may own it) is still using it,
      // unless its journal closed and left it.
      const pid = Number(name.split('-')[0]);
      if (!name.startsWith(LEFT) && (pid === process.pid || processIsAlive(pid))) continue;
      const file = join(dir, name);
      const read = await readRegularFile(fs, file, MAX_SEGMENT_BYTES);
      if (!read.ok) throw new Error(`journal segment ${file} ${read.problem}; move it away to start`);
      out.push({ file, ...parseSegment(read.bytes) });
    }
    return out;
  }
}
