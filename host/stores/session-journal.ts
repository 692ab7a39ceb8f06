import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { decode, encode } from 'cbor-x';
import type { SessionKey } from './keys.js';
import type { SessionRecord } from './session-store.js';

/** One journal entry: the session's new revision and record, or null for a deletion. */
export interface JournalEntry {
  readonly key: SessionKey;
  readonly rev: number;
  readonly record: SessionRecord | null;
}

interface Pending {
  readonly bytes: Buffer;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

const HEADER = 8;

interface Segment {
  readonly fh: FileHandle;
  readonly path: string;
}

/** Frame an entry: length, CRC-32 of the body, CBOR body. */
function frame(entry: JournalEntry): Buffer {
  const body = encode(entry);
  const head = Buffer.alloc(HEADER);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

/** Read the entries of one segment, stopping at a torn or corrupt tail (a crash mid-write). */
export function parseSegment(bytes: Buffer): JournalEntry[] {
  const out: JournalEntry[] = [];
  let pos = 0;
  while (pos + HEADER <= bytes.length) {
    const len = bytes.readUInt32LE(pos);
    const sum = bytes.readUInt32LE(pos + 4);
    const body = bytes.subarray(pos + HEADER, pos + HEADER + len);
    if (body.length !== len || crc32(body) !== sum) break;
    try {
      out.push(decode(body) as JournalEntry);
    } catch {
      break;
    }
    pos += HEADER + len;
  }
  return out;
}

/**
 * The session write-ahead journal of one process: entries are appended and made durable with
 * one fdatasync per batch (group commit: whatever arrives while a batch syncs goes in the
 * next), so turns cost one sequential write instead of a file fsync each. Segments rotate at
 * each checkpoint; a segment is deleted once its sessions are written to their own files.
 * Segments are named `<pid>-<instance>-<n>.log`, so a restart finds what a dead process left.
 */
export class SessionJournal {
  readonly #dir: string;
  readonly #prefix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  #n = 0;
  #fh: FileHandle | undefined;
  #path = '';
  /** Bytes written to the current segment. */
  #size = 0;
  /** The next segment, created ahead of need: a file's creation costs a directory sync (~15 ms here), which no turn should wait for. */
  #spare: Promise<Segment> | undefined;
  /** Once closed, no segment is made ahead any more (a late prepare() would leak its file). */
  #closed = false;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Append `entry`; resolves once it is on disk. */
  append(entry: JournalEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ bytes: frame(entry), resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /**
   * Write and sync batches until none is pending. `#flushing` is cleared in the same
   * synchronous step that finds nothing pending: cleared later (in a `.finally`), an append
   * made by a continuation of the last batch's writers would see a flush still running and
   * wait for one that never comes.
   */
  async #flush(): Promise<void> {
    for (;;) {
      if (this.#pending.length === 0) {
        this.#flushing = undefined;
        return;
      }
      const batch = this.#pending;
      this.#pending = [];
      try {
        if (!this.#fh) {
          const seg = await this.#takeSpare();
          this.#fh = seg.fh;
          this.#path = seg.path;
          this.#size = 0;
        }
        const bytes = Buffer.concat(batch.map((p) => p.bytes));
        await this.#fh!.write(bytes);
        this.#size += bytes.length;
        await this.#fh!.datasync();
        for (const p of batch) p.resolve();
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
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
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const path = join(this.#dir, `${this.#prefix}-${String(this.#n++).padStart(6, '0')}.log`);
    const fh = await open(path, 'a', 0o600);
    try {
      const dh = await open(this.#dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (e) {
      await fh.close();
      throw e;
    }
    return { fh, path };
  }

  /**
   * Start a new segment for what follows, and return a function that deletes the closed one:
   * call it once everything the closed segment holds is in the session files.
   */
  async rotate(): Promise<() => Promise<void>> {
    const next = await this.#takeSpare();
    // No batch may be mid-write on the segment being closed: swap only between batches.
    while (this.#flushing) await this.#flushing;
    const fh = this.#fh;
    const path = this.#path;
    this.#fh = next.fh;
    this.#path = next.path;
    this.#size = 0;
    this.prepare();
    await fh?.close();
    return async () => {
      if (path) await rm(path, { force: true });
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing) await this.#flushing;
    await this.#fh?.close();
    // A segment nothing was written to holds nothing to replay.
    if (this.#fh && this.#size === 0) await rm(this.#path, { force: true });
    this.#fh = undefined;
    // A segment made ahead and never written goes too.
    const spare = await this.#spare?.catch(() => undefined);
    this.#spare = undefined;
    if (spare) {
      await spare.fh.close();
      await rm(spare.path, { force: true });
    }
  }

  /** Segments left by processes that are gone, oldest first, with their entries. */
  static async orphans(dir: string): Promise<Array<{ file: string; entries: JournalEntry[] }>> {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.log')).sort();
    const out: Array<{ file: string; entries: JournalEntry[] }> = [];
    for (const name of names) {
      // A live process (this one included: another store here may own it) is still using it.
      const pid = Number(name.split('-')[0]);
      if (pid === process.pid || isAlive(pid)) continue;
      const file = join(dir, name);
      out.push({ file, entries: parseSegment(await readFile(file)) });
    }
    return out;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
