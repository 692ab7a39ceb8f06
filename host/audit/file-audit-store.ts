import { join } from 'node:path';
import { errnoOf, nodeFs, readdirIfExists, readRegularFile, syncDirectory, type StoreFileHandle, type StoreFs } from '../stores/store-fs.js';
import { checkId } from '../tenancy/ids.js';
import { encodeRecord, parseRecord, type AuditRecord } from './audit-record.js';
import { AuditCursorError, type AuditPage, type AuditQuery, type AuditStore } from './audit-store.js';

export interface FileAuditStoreOptions {
  /** A segment is closed and a new one started past this size (default 4 MiB). */
  readonly segmentBytes?: number;
  /** Segments kept per tenant; the oldest is deleted when one more is started (default 8). */
  readonly keepSegments?: number;
  /** The file operations (tests inject faults). */
  readonly fs?: StoreFs;
}

/** The largest batch one append writes (the trail batches at most this much). */
export const MAX_BATCH_BYTES = 1024 * 1024;

const SEGMENT = /^(\d{10})\.ndjson$/;
const CURSOR = /^(\d{1,10})-(\d{1,12})$/;
const segmentName = (n: number) => `${String(n).padStart(10, '0')}.ndjson`;

/**
 * A tenant's audit records as NDJSON under `{dataDir}/audit/{tenant}/`, in numbered segments:
 * appended (O_APPEND, so a CLI and the host appending at once never interleave a line) and
 * fdatasync'ed before `append` resolves, a new segment started past `segmentBytes`, the oldest
 * deleted beyond `keepSegments`, so a tenant's log is bounded on disk by construction. A torn
 * last line (a crash mid-write) is skipped by readers and ended before the next append.
 */
export class FileAuditStore implements AuditStore {
  readonly #root: string;
  readonly #fs: StoreFs;
  readonly #segmentBytes: number;
  readonly #keep: number;
  /** Per tenant: the segment appended to and its size, as last seen (forgotten after a failure). */
  readonly #tails = new Map<string, { segment: number; size: number }>();

  constructor(dataDir: string, opts: FileAuditStoreOptions = {}) {
    this.#root = join(dataDir, 'audit');
    this.#fs = opts.fs ?? nodeFs;
    this.#segmentBytes = opts.segmentBytes ?? 4 * 1024 * 1024;
    this.#keep = Math.max(1, opts.keepSegments ?? 8);
  }

  #dir(tenant: string): string {
    return join(this.#root, checkId('tenant', tenant, 'audit log'));
  }

  async #segments(dir: string): Promise<number[]> {
    const names = await readdirIfExists(this.#fs, dir);
    return names.flatMap((n) => (SEGMENT.test(n) ? [Number(SEGMENT.exec(n)![1])] : [])).sort((a, b) => a - b);
  }

  async append(tenant: string, records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const dir = this.#dir(tenant);
    let body = Buffer.concat(records.map(encodeRecord));
    try {
      let tail = this.#tails.get(tenant);
      if (!tail) {
        await this.#fs.mkdir(dir, { recursive: true, mode: 0o700 });
        const last = (await this.#segments(dir)).at(-1) ?? 1;
        const size = await this.#sizeOf(join(dir, segmentName(last)));
        tail = { segment: last, size };
        // A line left torn by a crash is ended, so the next record starts a line of its own.
        if (size > 0 && !(await this.#endsWithNewline(join(dir, segmentName(last)), size))) body = Buffer.concat([Buffer.from('\n'), body]);
      }
      let fresh = tail.size === 0;
      if (tail.size > 0 && tail.size + body.length > this.#segmentBytes) {
        tail = { segment: tail.segment + 1, size: 0 };
        fresh = true;
      }
      this.#tails.delete(tenant);
      await this.#write(join(dir, segmentName(tail.segment)), body);
      if (fresh) {
        await syncDirectory(this.#fs, dir);
        await this.#prune(dir, tail.segment);
      }
      this.#tails.set(tenant, { segment: tail.segment, size: tail.size + body.length });
    } catch (e) {
      this.#tails.delete(tenant);
      throw e;
    }
  }

  async #write(path: string, body: Buffer): Promise<void> {
    const fh: StoreFileHandle = await this.#fs.open(path, 'a', 0o600);
    try {
      // A short write is continued (position null: O_APPEND puts every byte at the end); no progress is ENOSPC.
      let done = 0;
      while (done < body.length) {
        const { bytesWritten } = await fh.write(body, done, body.length - done, null);
        if (bytesWritten <= 0)
          throw Object.assign(new Error(`ENOSPC: audit append made no progress after ${done} of ${body.length} bytes`), { code: 'ENOSPC' });
        done += bytesWritten;
      }
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  async #sizeOf(path: string): Promise<number> {
    try {
      const st = await this.#fs.lstat(path);
      return st.isFile() ? st.size : 0;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return 0;
      throw e;
    }
  }

  async #endsWithNewline(path: string, size: number): Promise<boolean> {
    const fh = await this.#fs.open(path, 'r');
    try {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, size - 1);
      return b[0] === 0x0a;
    } finally {
      await fh.close();
    }
  }

  async #prune(dir: string, newest: number): Promise<void> {
    for (const n of await this.#segments(dir)) if (n <= newest - this.#keep) await this.#fs.unlink(join(dir, segmentName(n))).catch(() => undefined);
  }

  async read(tenant: string, query: AuditQuery): Promise<AuditPage> {
    const dir = this.#dir(tenant);
    let from = { segment: 0, offset: 0 };
    if (query.cursor !== undefined) {
      const m = CURSOR.exec(query.cursor);
      if (!m) throw new AuditCursorError(`cursor ${JSON.stringify(query.cursor.slice(0, 40))} is not one this API gave`);
      from = { segment: Number(m[1]), offset: Number(m[2]) };
    }
    const records: AuditRecord[] = [];
    for (const segment of await this.#segments(dir)) {
      if (segment < from.segment) continue;
      const read = await readRegularFile(this.#fs, join(dir, segmentName(segment)), this.#segmentBytes + MAX_BATCH_BYTES + 1);
      if (!read.ok) continue;
      const bytes = read.bytes;
      let pos = segment === from.segment ? Math.min(from.offset, bytes.length) : 0;
      while (pos < bytes.length) {
        const end = bytes.indexOf(0x0a, pos);
        // A last line without its newline is still being written, or was torn: not a record (yet).
        if (end < 0) break;
        const record = parseRecord(bytes.toString('utf8', pos, end), tenant);
        pos = end + 1;
        if (!record || (query.since !== undefined && Date.parse(record.time) < query.since)) continue;
        records.push(record);
        if (records.length >= query.limit) return { records, next: `${segment}-${pos}` };
      }
    }
    return { records, next: null };
  }
}
