import { open, readFile, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { decode, encode } from 'cbor-x';
import type { TenantScope } from '../tenancy/tenant-ctx.js';
import { writeFileAtomic } from './atomic-file.js';
import { sessionKey, sessionPathSegments, type SessionKey } from './keys.js';
import { SessionJournal, type JournalEntry } from './session-journal.js';
import { checkBelongs, CorruptSessionError, RevisionConflictError, type SessionRecord, type SessionStore, type StoredSession } from './session-store.js';

interface FileEnvelope {
  rev: number;
  record: SessionRecord;
}

interface Cached {
  readonly key: SessionKey;
  readonly rev: number;
  /** null: deleted (the file may still exist until the next checkpoint). */
  readonly record: SessionRecord | null;
}

export interface FileSessionStoreOptions {
  /** How often dirty sessions are written to their own files (ms; default 1000). */
  readonly checkpointMs?: number;
  /** Sessions kept in memory (clean ones are dropped first). */
  readonly cacheSize?: number;
}

/**
 * The embedded backend: one CBOR file per session at sessions/{tenant}/{env}/{team}/{session}.cbor,
 * written atomically (temp file, fsync, rename), behind a write-ahead journal. A turn's update
 * is durable once its journal batch is synced (group commit: one fdatasync for every update in
 * the batch); a checkpoint then writes the latest version of each changed session to its file
 * and drops the journal segment. On start, segments a dead process left are replayed first.
 * Compare-and-set is exact within the process; another process on the same data directory
 * sees a change once it is checkpointed (at most checkpointMs later).
 */
export class FileSessionStore implements SessionStore {
  readonly #root: string;
  readonly #journal: SessionJournal;
  readonly #cache = new Map<string, Cached>();
  readonly #dirty = new Set<string>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #ready: Promise<void>;
  readonly #checkpointMs: number;
  readonly #cacheSize: number;
  #timer: NodeJS.Timeout | undefined;
  #checkpointing: Promise<void> | undefined;
  #closed = false;

  constructor(dataDir: string, opts: FileSessionStoreOptions = {}) {
    this.#root = dataDir;
    this.#journal = new SessionJournal(join(dataDir, 'sessions', '.journal'));
    this.#checkpointMs = opts.checkpointMs ?? 1000;
    this.#cacheSize = opts.cacheSize ?? 50_000;
    this.#ready = this.#recover().then(() => this.#journal.prepare());
  }

  /** The file of a session, from checked ids only. */
  fileOf(key: SessionKey): string {
    return join(this.#root, ...sessionPathSegments(key));
  }

  async get(key: SessionKey): Promise<StoredSession | null> {
    await this.#ready;
    const c = await this.#current(key);
    return c?.record ? { record: c.record, revision: c.rev } : null;
  }

  async put(key: SessionKey, record: SessionRecord, expected: number): Promise<number> {
    await this.#ready;
    checkBelongs(key, record, this.fileOf(key));
    return this.#serialise(key, async () => {
      const current = await this.#current(key);
      const rev = current?.record ? current.rev : 0;
      if (rev !== expected) throw new RevisionConflictError(`session ${key.session} changed (revision ${rev}, expected ${expected})`);
      // Revisions keep counting through deletions, so a stale reader can never match again.
      const next = (current?.rev ?? 0) + 1;
      await this.#commit({ key, rev: next, record });
      return next;
    });
  }

  async delete(key: SessionKey): Promise<boolean> {
    await this.#ready;
    return this.#serialise(key, async () => {
      const current = await this.#current(key);
      if (!current?.record) return false;
      await this.#commit({ key, rev: current.rev + 1, record: null });
      return true;
    });
  }

  async list(scope: TenantScope, opts: { after?: string; limit?: number } = {}): Promise<string[]> {
    await this.#ready;
    const key = sessionKey(scope, 'x');
    const dir = join(this.#root, 'sessions', key.tenant, key.env, key.team);
    const ids = new Set((await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.cbor')).map((n) => n.slice(0, -5)));
    for (const c of this.#cache.values()) {
      if (c.key.tenant !== key.tenant || c.key.env !== key.env || c.key.team !== key.team) continue;
      if (c.record) ids.add(c.key.session);
      else ids.delete(c.key.session);
    }
    const sorted = [...ids].sort();
    const start = opts.after === undefined ? 0 : sorted.findIndex((id) => id > opts.after!);
    return (start < 0 ? [] : sorted.slice(start)).slice(0, opts.limit ?? sorted.length);
  }

  /** Write every change so far to the session files now. */
  async flush(): Promise<void> {
    await this.#ready;
    await Promise.allSettled([...this.#locks.values()]);
    await this.#checkpointing;
    await this.#checkpoint();
  }

  /** Write everything to the session files and stop. */
  async close(): Promise<void> {
    await this.#ready;
    this.#closed = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#locks.values()]);
    await this.#checkpointing;
    await this.#checkpoint();
    await this.#journal.close();
  }

  async #commit(entry: JournalEntry): Promise<void> {
    const id = idOf(entry.key);
    const before = this.#cache.get(id);
    this.#remember(id, entry);
    this.#dirty.add(id);
    try {
      await this.#journal.append(entry);
    } catch (e) {
      // Not durable: as if it never happened.
      if (before) this.#cache.set(id, before);
      else this.#cache.delete(id);
      throw e;
    }
    this.#schedule();
  }

  #remember(id: string, c: Cached): void {
    this.#cache.delete(id);
    this.#cache.set(id, c);
    if (this.#cache.size <= this.#cacheSize) return;
    for (const k of this.#cache.keys()) {
      if (this.#cache.size <= this.#cacheSize) break;
      if (!this.#dirty.has(k) && !this.#locks.has(k)) this.#cache.delete(k);
    }
  }

  async #current(key: SessionKey): Promise<Cached | null> {
    const id = idOf(key);
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const env = await this.#readFile(key);
    if (!env) return null;
    const c = { key, rev: env.rev, record: env.record };
    if (!this.#cache.has(id)) this.#remember(id, c);
    return this.#cache.get(id)!;
  }

  async #readFile(key: SessionKey): Promise<FileEnvelope | null> {
    const file = this.fileOf(key);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    let env: FileEnvelope;
    try {
      env = decode(bytes) as FileEnvelope;
    } catch (e) {
      throw new CorruptSessionError(`session file ${file} is not valid CBOR: ${(e as Error).message}`);
    }
    if (typeof env?.rev !== 'number' || typeof env.record !== 'object' || env.record === null) {
      throw new CorruptSessionError(`session file ${file} is not a session record`);
    }
    checkBelongs(key, env.record, file);
    return env;
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#checkpointing ??= this.#checkpoint().finally(() => (this.#checkpointing = undefined));
    }, this.#checkpointMs);
    this.#timer.unref();
  }

  /** Write every changed session to its own file (durably), then drop the journal segment that held it. */
  async #checkpoint(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const dropSegment = await this.#journal.rotate();
    const ids = [...this.#dirty];
    this.#dirty.clear();
    try {
      await this.#materialize(ids.map((id) => this.#cache.get(id)!).filter(Boolean));
      await dropSegment();
    } catch (e) {
      for (const id of ids) this.#dirty.add(id);
      throw e;
    } finally {
      if (this.#dirty.size > 0) this.#schedule();
    }
  }

  async #materialize(entries: ReadonlyArray<Cached>): Promise<void> {
    const dirs = new Set<string>();
    const work = [...entries];
    const worker = async () => {
      for (let c = work.shift(); c; c = work.shift()) {
        const file = this.fileOf(c.key);
        if (c.record) await writeFileAtomic(file, encode({ rev: c.rev, record: c.record } satisfies FileEnvelope), 0o600, false);
        else await rm(file, { force: true });
        dirs.add(dirname(file));
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    // Renames and removals are durable once their directory is synced: once per directory, not per file.
    await Promise.all(
      [...dirs].map(async (d) => {
        const dh = await open(d, 'r').catch(() => undefined);
        await dh?.sync();
        await dh?.close();
      }),
    );
  }

  /** Replay the journal segments a dead process left into the session files, then remove them. */
  async #recover(): Promise<void> {
    const orphans = await SessionJournal.orphans(join(this.#root, 'sessions', '.journal'));
    if (orphans.length === 0) return;
    const latest = new Map<string, Cached>();
    for (const { entries } of orphans) {
      for (const e of entries) {
        const id = idOf(e.key);
        const prev = latest.get(id);
        if (!prev || e.rev >= prev.rev) latest.set(id, { key: e.key, rev: e.rev, record: e.record });
      }
    }
    await this.#materialize([...latest.values()]);
    for (const { file } of orphans) await rm(file, { force: true });
  }

  #serialise<T>(key: SessionKey, op: () => Promise<T>): Promise<T> {
    const id = idOf(key);
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

function idOf(k: SessionKey): string {
  return `${k.tenant}/${k.env}/${k.team}/${k.session}`;
}
