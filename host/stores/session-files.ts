import { dirname, join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { writeTempFile } from './atomic-file.js';
import { sessionPathSegments, type SessionKey } from './keys.js';
import type { CachedSession } from './session-cache.js';
import { decodeSessionFile, MAX_SESSION_BYTES, sessionFileBytes } from './session-codec.js';
import { quarantineSessionFile } from './session-quarantine.js';
import { CorruptSessionError, type SessionRecord } from './session-store.js';
import { StoreUnavailableError } from './storage-problem.js';
import { errnoOf, readRegularFile, syncDirectory, type StoreFs } from './store-fs.js';
import type { StoreMetricsSink } from './store-health.js';

/** Largest session file read: the record plus its envelope. */
export const MAX_SESSION_FILE_BYTES = MAX_SESSION_BYTES + 64;

/** Writes at once during a checkpoint: enough to keep a disk busy, few enough not to hog file descriptors. */
const PARALLEL_WRITES = 8;

/** What a session's path holds: nothing, a session, or something damaged that has just been moved aside. */
export type SessionFileRead =
  | { readonly kind: 'none' }
  | { readonly kind: 'session'; readonly rev: number; readonly record: SessionRecord; readonly bytes: Buffer }
  | { readonly kind: 'quarantined' };

/** The session files under one data directory, from checked ids only. */
export class SessionFiles {
  constructor(
    readonly root: string,
    private readonly fs: StoreFs,
    private readonly logger: Logger | undefined,
    private readonly metrics: StoreMetricsSink | undefined,
  ) {}

  /**
   * Read a session's file. Whatever is there that cannot be this session (garbage, empty, the
   * wrong shape, another session's record, not a regular file, too large) is moved to the
   * quarantine, counted and logged, and reads as 'quarantined'. A read that fails is a
   * StoreUnavailableError (retryable), never a damaged session.
   */
  async read(key: SessionKey): Promise<SessionFileRead> {
    const file = this.fileOf(key);
    let read: Awaited<ReturnType<typeof readRegularFile>>;
    try {
      read = await readRegularFile(this.fs, file, MAX_SESSION_FILE_BYTES);
    } catch (e) {
      const code = errnoOf(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'none' };
      throw StoreUnavailableError.from(e, `session ${key.session}`);
    }
    if (!read.ok) return this.#quarantine(key, file, `session file ${file} ${read.problem}`);
    try {
      const { rev, record } = decodeSessionFile(read.bytes, key, file);
      return { kind: 'session', rev, record, bytes: read.bytes };
    } catch (e) {
      if (e instanceof CorruptSessionError) return this.#quarantine(key, file, e.message);
      throw e;
    }
  }

  async #quarantine(key: SessionKey, file: string, reason: string): Promise<SessionFileRead> {
    const fields = { tenant_id: key.tenant, env_id: key.env, team_id: key.team, session_id: key.session };
    let movedTo: string;
    try {
      movedTo = await quarantineSessionFile(this.fs, this.root, key, file);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return { kind: 'quarantined' };
      this.logger?.error({ ...fields, event: 'session-quarantine-failed', reason, err: (e as Error).message }, 'could not move a damaged session file aside');
      throw StoreUnavailableError.from(e, `session ${key.session}`);
    }
    this.metrics?.sessionQuarantined(key, reason);
    this.logger?.warn({ ...fields, event: 'session-quarantined', reason, moved_to: movedTo }, 'damaged session file moved aside; the conversation starts anew');
    return { kind: 'quarantined' };
  }

  fileOf(key: SessionKey): string {
    return join(this.root, ...sessionPathSegments(key));
  }

  /** The revision in a session's file, without moving anything: 0 if there is none or it cannot be read as one (a checkpoint will replace it). */
  async revisionOf(key: SessionKey): Promise<number> {
    const file = this.fileOf(key);
    try {
      const read = await readRegularFile(this.fs, file, MAX_SESSION_FILE_BYTES);
      return read.ok ? decodeSessionFile(read.bytes, key, file).rev : 0;
    } catch {
      return 0;
    }
  }

  /**
   * Write each entry to its file (temp file, fsync, rename; a deletion removes the file), then
   * sync every directory touched once. Returns the entries that could not be written, with the
   * first error; those written are durable.
   */
  async write(entries: ReadonlyArray<readonly [string, CachedSession]>): Promise<{ failed: Array<readonly [string, CachedSession]>; error: unknown }> {
    const dirs = new Map<string, Array<readonly [string, CachedSession]>>();
    const failed: Array<readonly [string, CachedSession]> = [];
    let error: unknown;
    const work = [...entries];
    const worker = async () => {
      for (let item = work.shift(); item; item = work.shift()) {
        try {
          await this.#writeOne(item[1]);
          const dir = dirname(this.fileOf(item[1].key));
          dirs.set(dir, [...(dirs.get(dir) ?? []), item]);
        } catch (e) {
          error ??= e;
          failed.push(item);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_WRITES }, worker));
    // Renames and removals are durable once their directory is synced: once per directory, not per file.
    await Promise.all(
      [...dirs].map(async ([dir, written]) => {
        try {
          await syncDirectory(this.fs, dir);
        } catch (e) {
          if (errnoOf(e) === 'ENOENT') return; // removed meanwhile: nothing of it to make durable
          error ??= e;
          failed.push(...written);
        }
      }),
    );
    return { failed, error };
  }

  async #writeOne(c: CachedSession): Promise<void> {
    const file = this.fileOf(c.key);
    if (c.bytes === null) {
      await this.#remove(c.key, file);
      return;
    }
    const data = c.form === 'file' ? c.bytes : sessionFileBytes(c.rev, c.bytes);
    let tmp: string;
    try {
      tmp = await writeTempFile(this.fs, file, data, 0o600);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
      await this.fs.mkdir(dirname(file), { recursive: true, mode: 0o700 });
      tmp = await writeTempFile(this.fs, file, data, 0o600);
    }
    try {
      await this.#renameOver(c.key, tmp, file);
    } catch (e) {
      await this.fs.rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
  }

  /** Rename over the session's path; a directory found there (a damaged tree) is moved aside first. */
  async #renameOver(key: SessionKey, tmp: string, file: string): Promise<void> {
    try {
      await this.fs.rename(tmp, file);
    } catch (e) {
      const code = errnoOf(e);
      if (code !== 'EISDIR' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      await this.#moveAside(key, file);
      await this.fs.rename(tmp, file);
    }
  }

  async #remove(key: SessionKey, file: string): Promise<void> {
    try {
      await this.fs.unlink(file);
    } catch (e) {
      const code = errnoOf(e);
      if (code === 'ENOENT') return;
      if (code !== 'EISDIR' && code !== 'EPERM') throw e;
      await this.#moveAside(key, file);
    }
  }

  async #moveAside(key: SessionKey, file: string): Promise<void> {
    const to = await quarantineSessionFile(this.fs, this.root, key, file);
    this.logger?.warn(
      { event: 'session-quarantined', tenant_id: key.tenant, env_id: key.env, team_id: key.team, session_id: key.session, moved_to: to },
      'something that is not a session file sat at a session path; moved aside',
    );
  }
}
