import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { TenantScope } from '../tenancy/tenant-ctx.js';
import { BackgroundTask } from './background-task.js';
import { changeBody } from './journal-frame.js';
import { replayJournal, sessionIdOf } from './journal-recovery.js';
import { sessionKey, sessionPathSegments, type SessionKey } from './keys.js';
import { SessionCache, type CachedSession } from './session-cache.js';
import { encodeRecord } from './session-codec.js';
import { SessionFiles } from './session-files.js';
import { SessionJournal } from './session-journal.js';
import { checkBelongs, RevisionConflictError, type SessionRecord, type SessionStore, type StoredSession } from './session-store.js';
import { PROBLEM_TEXT, StoreUnavailableError } from './storage-problem.js';
import { nodeFs, type StoreFs } from './store-fs.js';
import { StoreHealth, type StoreHealthReport, type StoreMetricsSink } from './store-health.js';
import { sweepTempFiles } from './temp-sweep.js';
import { treeBytes } from './tree-bytes.js';

export interface FileSessionStoreOptions {
  /** Longest a change waits in the journal before a checkpoint writes it to its session file (ms; default 10000). */
  readonly checkpointMs?: number;
  /**
   * Journal bytes that start a checkpoint at once (default 64 MiB). A checkpoint rewrites every
   * session changed since the last one, so under load a small journal means rewriting the same
   * busy sessions every few seconds; the journal is read whole only at a start after a crash.
   */
  readonly checkpointBytes?: number;
  /** Sessions kept in memory (least recently used dropped first; default 10000). */
  readonly cacheSize?: number;
  /** Bytes of sessions kept in memory (default 8 MiB): enough for every conversation active in the last minutes. */
  readonly cacheBytes?: number;
  /** Bytes of changes waiting for a checkpoint past which writes are refused until it catches up (default 64 MiB). */
  readonly maxBacklogBytes?: number;
  readonly fs?: StoreFs;
  readonly logger?: Logger;
  readonly metrics?: StoreMetricsSink;
}

/**
 * The embedded backend: one CBOR file per session at sessions/{tenant}/{env}/{team}/{session}.cbor,
 * behind a write-ahead journal. A change is acknowledged once its journal batch is synced (group
 * commit); a checkpoint later writes the latest version of each changed session to its file
 * (atomically) and drops the journal segments it covers, so a session changed many times between
 * checkpoints is written once. A record is encoded once per change: the same bytes go to the
 * journal and the file. Storage failures are refusals the caller may retry (StoreUnavailableError);
 * background work is retried with backoff and shows in `health()`. A damaged session file is
 * moved aside and the conversation starts anew. Compare-and-set is exact within the process;
 * another process on the same data directory sees a change once it is checkpointed.
 */
export class FileSessionStore implements SessionStore {
  readonly #files: SessionFiles;
  readonly #fs: StoreFs;
  readonly #journal: SessionJournal;
  readonly #cache: SessionCache;
  /** Changes waiting for a checkpoint, by session id. */
  readonly #dirty = new Map<string, CachedSession>();
  #dirtyBytes = 0;
  /** Sessions a checkpoint is writing now. */
  readonly #writing = new Set<string>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #health: StoreHealth;
  readonly #checkpointer: BackgroundTask;
  /** While journal writes fail, this probes until the disk takes them again. */
  readonly #prober: BackgroundTask;
  readonly #sweeper: BackgroundTask;
  readonly #ready: Promise<void>;
  readonly #opts: FileSessionStoreOptions;
  readonly #logger: Logger | undefined;
  /** Segments of dead processes, deleted once a checkpoint has written what they held. */
  #orphans: string[] = [];
  #checkpointing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(dataDir: string, opts: FileSessionStoreOptions = {}) {
    this.#opts = opts;
    this.#fs = opts.fs ?? nodeFs;
    this.#logger = opts.logger;
    this.#files = new SessionFiles(dataDir, this.#fs, opts.logger, opts.metrics);
    this.#journal = new SessionJournal(join(dataDir, 'sessions', '.journal'), this.#fs);
    this.#cache = new SessionCache(
      { maxEntries: opts.cacheSize, maxBytes: opts.cacheBytes },
      (id) => this.#dirty.has(id) || this.#writing.has(id) || this.#locks.has(id),
    );
    this.#health = new StoreHealth({ store: 'session store', logger: opts.logger, metrics: opts.metrics });
    this.#checkpointer = new BackgroundTask(() => this.#checkpoint(), { op: 'checkpoint', health: this.#health });
    this.#prober = new BackgroundTask(() => this.#journal.probe(), { op: 'append', health: this.#health, maxRetryMs: 5000 });
    this.#sweeper = new BackgroundTask(() => this.#sweep(), { op: 'sweep', health: this.#health });
    this.#ready = this.#recover();
    // A failed recovery shows on every call (and on open()); it must not also be an unhandled rejection.
    this.#ready.catch(() => undefined);
  }

  /** Open the store: replay what a dead process left (nothing is written, so a full disk still starts). */
  static async open(dataDir: string, opts: FileSessionStoreOptions = {}): Promise<FileSessionStore> {
    const store = new FileSessionStore(dataDir, opts);
    await store.#ready;
    return store;
  }

  /** The file of a session, from checked ids only. */
  fileOf(key: SessionKey): string {
    return this.#files.fileOf(key);
  }

  /** Whether the store can save now, and which of its operations fail (for /readyz and the admin API). */
  health(): StoreHealthReport {
    return this.#health.report();
  }

  /** What the store holds in memory: cached sessions and their bytes, changes waiting for a checkpoint. */
  memory(): { sessions: number; bytes: number; waiting: number; waitingBytes: number } {
    return { sessions: this.#cache.size, bytes: this.#cache.bytes, waiting: this.#dirty.size, waitingBytes: this.#dirtyBytes };
  }

  async get(key: SessionKey): Promise<StoredSession | null> {
    await this.#ready;
    const id = sessionIdOf(key);
    const c = this.#cache.get(id) ?? (await this.#serialise(id, () => this.#current(key, id)));
    return stored(c);
  }

  async put(key: SessionKey, record: SessionRecord, expected: number): Promise<number> {
    await this.#ready;
    checkBelongs(key, record, () => this.fileOf(key));
    const bytes = encodeRecord(record);
    const id = sessionIdOf(key);
    return this.#serialise(id, async () => {
      const current = await this.#current(key, id);
      const rev = current && current !== 'quarantined' && current.bytes !== null ? current.rev : 0;
      if (rev !== expected) throw new RevisionConflictError(`session ${key.session} changed (revision ${rev}, expected ${expected})`);
      // Revisions keep counting through deletions, so a stale reader can never match again.
      const next = (typeof current === 'object' && current ? current.rev : 0) + 1;
      await this.#commit(id, { key, rev: next, bytes, form: 'record', record });
      return next;
    });
  }

  /** Forget a session; true if there was one (a damaged file counts: it is moved aside). */
  async delete(key: SessionKey, expected?: number): Promise<boolean> {
    await this.#ready;
    const id = sessionIdOf(key);
    return this.#serialise(id, async () => {
      const current = await this.#current(key, id);
      if (current === 'quarantined') return expected === undefined;
      if (!current || current.bytes === null) return false;
      if (expected !== undefined && current.rev !== expected) return false;
      await this.#commit(id, { key, rev: current.rev + 1, bytes: null, form: 'record', record: null });
      return true;
    });
  }

  /** The session as stored, from the cache or its file, without caching it (a damaged file reads as none, and is moved aside). */
  async peek(key: SessionKey): Promise<StoredSession | null> {
    await this.#ready;
    const hit = this.#cache.get(sessionIdOf(key));
    if (hit) return stored(hit);
    // Not cached means not changed since the last checkpoint: the file is current (a change racing this read fails a later compare-and-set).
    const found = await this.#files.read(key);
    return found.kind === 'session' ? { record: found.record, revision: found.rev } : null;
  }

  async list(scope: TenantScope, opts: { after?: string; limit?: number } = {}): Promise<string[]> {
    await this.#ready;
    const key = sessionKey(scope, 'x');
    const dir = join(this.#files.root, 'sessions', key.tenant, key.env, key.team);
    const names = await this.#fs.readdir(dir).catch(() => [] as string[]);
    const ids = new Set(names.filter((n) => n.endsWith('.cbor')).map((n) => n.slice(0, -5)));
    for (const c of this.#cache.values()) {
      if (c.key.tenant !== key.tenant || c.key.env !== key.env || c.key.team !== key.team) continue;
      if (c.bytes) ids.add(c.key.session);
      else ids.delete(c.key.session);
    }
    const sorted = [...ids].sort();
    const start = opts.after === undefined ? 0 : sorted.findIndex((id) => id > opts.after!);
    return (start < 0 ? [] : sorted.slice(start)).slice(0, opts.limit ?? sorted.length);
  }

  /** Bytes of the tenant's session files, as last checkpointed. */
  async bytesStored(tenant: string): Promise<number> {
    return treeBytes(this.#fs, join(this.#files.root, ...sessionPathSegments(sessionKey({ tenant, env: 'x' }, 'x')).slice(0, 2)));
  }

  /** Write every change so far to the session files now; throws if that fails. */
  async flush(): Promise<void> {
    await this.#ready;
    await Promise.allSettled([...this.#locks.values()]);
    await this.#checkpointNow();
  }

  /** Write what it can to the session files and stop; what it cannot stays in the journal, replayed at the next open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#ready.catch(() => undefined);
    await Promise.all([this.#prober.stop(), this.#sweeper.stop(), this.#checkpointer.stop()]);
    await Promise.allSettled([...this.#locks.values()]);
    try {
      await this.#checkpointNow();
    } catch (e) {
      this.#logger?.error(
        { event: 'store-close-checkpoint-failed', err: (e as Error).message },
        'could not write the session files at stop; the journal keeps every change and the next start replays it',
      );
    }
    await this.#journal.close();
  }

  async #commit(id: string, entry: CachedSession): Promise<void> {
    const max = this.#opts.maxBacklogBytes ?? 64 * 1024 * 1024;
    if (this.#dirtyBytes > max) {
      throw new StoreUnavailableError(
        'backlog',
        `session ${entry.key.session} could not be saved (${PROBLEM_TEXT.backlog}); nothing was changed, try again later`,
      );
    }
    try {
      await this.#journal.append(changeBody(entry.key, entry.rev, entry.bytes), () => this.#apply(id, entry));
    } catch (e) {
      this.#health.failed('append', e);
      this.#prober.schedule(500);
      throw StoreUnavailableError.from(e, `session ${entry.key.session}`);
    }
    this.#health.succeeded('append');
    const soon = this.#journal.size >= (this.#opts.checkpointBytes ?? 64 * 1024 * 1024) || this.#dirtyBytes >= max / 4;
    this.#checkpointer.schedule(soon ? 0 : (this.#opts.checkpointMs ?? 10_000));
  }

  /** A durable change: the cache and the checkpoint's queue take it (runs inside the journal's flush, synchronously). */
  #apply(id: string, entry: CachedSession): void {
    this.#queue(id, entry);
    this.#cache.set(id, entry);
  }

  #queue(id: string, entry: CachedSession): void {
    this.#dirtyBytes += (entry.bytes?.length ?? 0) - (this.#dirty.get(id)?.bytes?.length ?? 0);
    this.#dirty.set(id, entry);
  }

  /** The session as stored (call under its lock): cached, read from its file, or null; 'quarantined' if its file was damaged and moved aside. */
  async #current(key: SessionKey, id: string): Promise<CachedSession | null | 'quarantined'> {
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const found = await this.#files.read(key);
    if (found.kind === 'none') {
      // Known absent from now on (a new conversation): the write that follows this read, and any
      // read after it, need not look for the file again. Evicted like any clean entry.
      this.#cache.set(id, { key, rev: 0, bytes: null, form: 'file', record: undefined });
      return null;
    }
    if (found.kind !== 'session') return 'quarantined';
    const entry: CachedSession = { key, rev: found.rev, bytes: found.bytes, form: 'file', record: undefined };
    this.#cache.set(id, entry);
    // Handed out decoded this once; the cache keeps only the bytes.
    return { ...entry, record: found.record };
  }

  /** Run a checkpoint now, after any under way; throws if it fails (and reports it, as the background runs do). */
  #checkpointNow(): Promise<void> {
    const run = this.#checkpointing.then(async () => {
      try {
        await this.#checkpointOnce();
        this.#health.succeeded('checkpoint');
      } catch (e) {
        this.#health.failed('checkpoint', e);
        throw e;
      }
    });
    this.#checkpointing = run.catch(() => undefined);
    return run;
  }

  /** The background checkpoint: one at a time with any flush(). */
  #checkpoint(): Promise<void> {
    const run = this.#checkpointing.then(() => this.#checkpointOnce());
    this.#checkpointing = run.catch(() => undefined);
    return run;
  }

  /** Write every changed session to its own file (durably), then drop the journal segments that held them. */
  async #checkpointOnce(): Promise<void> {
    if (this.#dirty.size === 0 && this.#orphans.length === 0 && !this.#journal.hasClosedSegments) return;
    const drop = await this.#journal.rotate();
    const batch = [...this.#dirty];
    this.#dirty.clear();
    this.#dirtyBytes = 0;
    for (const [id] of batch) this.#writing.add(id);
    let failed: ReadonlyArray<readonly [string, CachedSession]> = [];
    let error: unknown;
    try {
      ({ failed, error } = await this.#files.write(batch));
    } catch (e) {
      [failed, error] = [batch, e];
    } finally {
      for (const [id] of batch) this.#writing.delete(id);
    }
    // What did not make it waits for the next try, unless a newer change replaced it meanwhile.
    for (const [id, entry] of failed) if (!this.#dirty.has(id)) this.#queue(id, entry);
    const written = new Set(failed.map(([id]) => id));
    for (const [id, entry] of batch) if (!written.has(id)) this.#cache.release(id, entry);
    this.#cache.unpinned();
    if (failed.length > 0) throw error;
    await drop();
    for (const file of this.#orphans.splice(0)) await this.#fs.rm(file, { force: true });
  }

  async #recover(): Promise<void> {
    const found = await replayJournal(join(this.#files.root, 'sessions', '.journal'), this.#files, this.#fs, this.#logger);
    for (const [id, entry] of found.sessions) this.#apply(id, entry);
    this.#orphans = found.segments;
    if (found.segments.length > 0) this.#checkpointer.schedule(0);
    this.#journal.prepare();
    this.#sweeper.schedule(0);
  }

  async #sweep(): Promise<void> {
    const removed = await sweepTempFiles(this.#fs, join(this.#files.root, 'sessions'), 4);
    if (removed > 0) this.#logger?.info({ event: 'temp-files-removed', files: removed }, 'removed temp files of writes a dead process left');
  }

  #serialise<T>(id: string, op: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const run = prev.then(op, op);
    const tail = run.catch(() => undefined);
    this.#locks.set(id, tail);
    void tail.then(() => {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    });
    return run;
  }
}

function stored(c: CachedSession | null | 'quarantined'): StoredSession | null {
  if (!c || c === 'quarantined' || c.bytes === null) return null;
  return { record: SessionCache.recordOf(c)!, revision: c.rev };
}
