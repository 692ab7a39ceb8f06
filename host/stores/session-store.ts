import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { decode, encode } from 'cbor-x';
import type { TenantScope } from '../tenancy/tenant-ctx.js';
import { writeFileAtomic } from './atomic-file.js';
import { sessionKey, sessionPathSegments, type SessionKey } from './keys.js';

/** Where a session's flow run stands. */
export interface FlowCursor {
  readonly flow: string;
  readonly node: string;
  /** The flow is waiting at `node` for the user's next message. */
  readonly waiting: boolean;
}

/** Everything kept about one conversation, stored as CBOR. */
export interface SessionRecord {
  readonly v: 1;
  readonly tenant: string;
  readonly env: string;
  readonly team: string;
  readonly session: string;
  readonly channel: string;
  readonly user: string;
  readonly cursor: FlowCursor | null;
  /** The session's working memory (capability `state`). */
  readonly state: Readonly<Record<string, string>>;
  readonly created_at: number;
  readonly updated_at: number;
  readonly turns: number;
  /** Ids of the latest ingress messages handled, so a redelivery is recognised. */
  readonly recent_messages: readonly string[];
  /** The latest exchanges on the session's channel (bounded), for the webchat page and the API. */
  readonly transcript?: ReadonlyArray<TranscriptEntry>;
  /** What the latest turn sent, so a redelivery of its message can publish it again (deduplicated by id). */
  readonly last_turn?: { readonly id: string; readonly outbox: ReadonlyArray<{ readonly channel: string; readonly text: string }> } | null;
}

/** One line of a session's conversation. */
export interface TranscriptEntry {
  readonly from: 'user' | 'bot';
  readonly text: string;
  readonly at: number;
}

export interface StoredSession {
  readonly record: SessionRecord;
  /** Opaque revision for compare-and-set; 0 means "not stored yet". */
  readonly revision: number;
}

/** Another writer updated the session since it was read. */
export class RevisionConflictError extends Error {
  override readonly name = 'RevisionConflictError';
}

/** A stored session that cannot be decoded or does not belong where it was found. */
export class CorruptSessionError extends Error {
  override readonly name = 'CorruptSessionError';
}

/** Sessions, one record per key, with compare-and-set updates. */
export interface SessionStore {
  get(key: SessionKey): Promise<StoredSession | null>;
  /** Store `record` if the stored revision is still `expected` (0: must not exist); returns the new revision. */
  put(key: SessionKey, record: SessionRecord, expected: number): Promise<number>;
  delete(key: SessionKey): Promise<boolean>;
  /** Session ids of one tenant/env/team, sorted, starting after `after`. */
  list(scope: TenantScope, opts?: { after?: string; limit?: number }): Promise<string[]>;
  close(): Promise<void>;
}

interface FileEnvelope {
  rev: number;
  record: SessionRecord;
}

/** The embedded backend: one CBOR file per session under `<data>/sessions/`, written atomically. */
export class FileSessionStore implements SessionStore {
  readonly #root: string;
  /** Per-file write chains: compare-and-set is exact within this process. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(dataDir: string) {
    this.#root = dataDir;
  }

  /** The file of a session, from checked ids only. */
  fileOf(key: SessionKey): string {
    return join(this.#root, ...sessionPathSegments(key));
  }

  async get(key: SessionKey): Promise<StoredSession | null> {
    const env = await this.#read(key);
    return env ? { record: env.record, revision: env.rev } : null;
  }

  async put(key: SessionKey, record: SessionRecord, expected: number): Promise<number> {
    const file = this.fileOf(key);
    return this.#serialise(file, async () => {
      const current = await this.#read(key);
      const rev = current?.rev ?? 0;
      if (rev !== expected) throw new RevisionConflictError(`session ${key.session} changed (revision ${rev}, expected ${expected})`);
      checkBelongs(key, record, file);
      const next = rev + 1;
      await writeFileAtomic(file, encode({ rev: next, record } satisfies FileEnvelope));
      return next;
    });
  }

  async delete(key: SessionKey): Promise<boolean> {
    const file = this.fileOf(key);
    return this.#serialise(file, async () => {
      const existed = (await this.#read(key)) !== null;
      await rm(file, { force: true });
      return existed;
    });
  }

  async list(scope: TenantScope, opts: { after?: string; limit?: number } = {}): Promise<string[]> {
    const key = sessionKey(scope, 'x');
    const dir = join(this.#root, 'sessions', key.tenant, key.env, key.team);
    const names = await readdir(dir).catch(() => [] as string[]);
    const ids = names
      .filter((n) => n.endsWith('.cbor'))
      .map((n) => n.slice(0, -5))
      .sort();
    const start = opts.after === undefined ? 0 : ids.findIndex((id) => id > opts.after!);
    return (start < 0 ? [] : ids.slice(start)).slice(0, opts.limit ?? ids.length);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#locks.values()]);
  }

  async #read(key: SessionKey): Promise<FileEnvelope | null> {
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

  #serialise<T>(file: string, op: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(file) ?? Promise.resolve();
    const run = prev.then(op, op);
    const tail = run.catch(() => undefined);
    this.#locks.set(file, tail);
    void tail.then(() => {
      if (this.#locks.get(file) === tail) this.#locks.delete(file);
    });
    return run;
  }
}

/** A record found under one key must name that key: a copied or moved record is refused. */
export function checkBelongs(key: SessionKey, record: SessionRecord, file: string): void {
  if (record.tenant !== key.tenant || record.env !== key.env || record.team !== key.team || record.session !== key.session) {
    throw new CorruptSessionError(`session file ${file} holds ${record.tenant}/${record.env}/${record.team}/${record.session}, not the session at its path`);
  }
}
