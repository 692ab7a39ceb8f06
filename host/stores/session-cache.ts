import { decode } from 'cbor-x';
import type { SessionKey } from './keys.js';
import type { SessionRecord } from './session-store.js';

/** One session as the store holds it in memory. */
export interface CachedSession {
  readonly key: SessionKey;
  readonly rev: number;
  /**
   * The record's CBOR as encoded once for its turn (`form: 'record'`), or the session file's
   * bytes as read (`form: 'file'`, the envelope {rev, record}); null: deleted (the file goes at
   * the next checkpoint).
   */
  readonly bytes: Buffer | null;
  readonly form: 'record' | 'file';
  /** The decoded record, kept while the entry waits for its checkpoint (the next turn reads it); dropped after. */
  record: SessionRecord | null | undefined;
}

/** Entries a cache whose every entry is pinned may grow by before it looks for one to drop again. */
const EVICT_SLACK = 64;
/** Bookkeeping per entry beyond its bytes: the key, the map slot, the object. */
const ENTRY_OVERHEAD = 256;
/** A decoded record takes about this many times its CBOR size on the heap (strings, objects, arrays, and its transcript lines' cached CBOR: session-codec.ts). */
const DECODED_FACTOR = 4;

export interface SessionCacheLimits {
  /** Sessions kept (default 10000). */
  readonly maxEntries?: number;
  /** Bytes kept, counting each entry's CBOR and, while it is kept, its decoded record (default 8 MiB). */
  readonly maxBytes?: number;
}

/**
 * The sessions a store keeps in memory, least recently used first, bounded by count and by
 * bytes. Entries the store says are pinned (waiting for their checkpoint, or locked by a write)
 * are never evicted; the store bounds those itself.
 */
export class SessionCache {
  readonly #map = new Map<string, { entry: CachedSession; weight: number }>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #pinned: (id: string) => boolean;
  #bytes = 0;
  /**
   * Size of the map when a full pass found nothing it could drop (every entry pinned), or -1.
   * Until an entry may have been unpinned (release, delete) or the map grew by EVICT_SLACK, a
   * pass would walk every pinned entry again for nothing: with thousands of sessions waiting for
   * their checkpoint that walk was a cost on every turn.
   */
  #blockedAt = -1;

  constructor(limits: SessionCacheLimits, pinned: (id: string) => boolean) {
    this.#maxEntries = limits.maxEntries ?? 10_000;
    this.#maxBytes = limits.maxBytes ?? 8 * 1024 * 1024;
    this.#pinned = pinned;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Bytes the cache accounts for now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The entry, marked most recently used. */
  get(id: string): CachedSession | undefined {
    const slot = this.#map.get(id);
    if (!slot) return undefined;
    this.#map.delete(id);
    this.#map.set(id, slot);
    return slot.entry;
  }

  /** The record of an entry, decoded from its bytes if it is not kept (not kept again: a clean entry costs its bytes only). */
  static recordOf(entry: CachedSession): SessionRecord | null {
    if (entry.record !== undefined) return entry.record;
    if (entry.bytes === null) return null;
    const decoded = decode(entry.bytes) as SessionRecord | { record: SessionRecord };
    return entry.form === 'file' ? (decoded as { record: SessionRecord }).record : (decoded as SessionRecord);
  }

  set(id: string, entry: CachedSession): void {
    this.#drop(id);
    const weight = weightOf(entry);
    this.#map.set(id, { entry, weight });
    this.#bytes += weight;
    this.evict();
  }

  /** Forget the decoded record of `entry` if it is still the cached one (its checkpoint is done). */
  release(id: string, entry: CachedSession): void {
    const slot = this.#map.get(id);
    if (!slot || slot.entry !== entry || entry.record === undefined) return;
    entry.record = undefined;
    this.#blockedAt = -1;
    const weight = weightOf(entry);
    this.#bytes += weight - slot.weight;
    slot.weight = weight;
  }

  delete(id: string): void {
    this.#drop(id);
    this.#blockedAt = -1;
  }

  values(): IterableIterator<CachedSession> {
    return Array.from(this.#map.values(), (s) => s.entry)[Symbol.iterator]();
  }

  /** Drop least recently used unpinned entries until within both limits. */
  evict(): void {
    if (this.#within()) {
      this.#blockedAt = -1;
      return;
    }
    if (this.#blockedAt >= 0 && this.#map.size < this.#blockedAt + EVICT_SLACK) return;
    for (const [id] of this.#map) {
      if (this.#within()) break;
      if (!this.#pinned(id)) this.#drop(id);
    }
    this.#blockedAt = this.#within() ? -1 : this.#map.size;
  }

  /** Entries may have been unpinned (a checkpoint is done): drop what is over the limits now. */
  unpinned(): void {
    this.#blockedAt = -1;
    this.evict();
  }

  #within(): boolean {
    return this.#map.size <= this.#maxEntries && this.#bytes <= this.#maxBytes;
  }

  #drop(id: string): void {
    const slot = this.#map.get(id);
    if (!slot) return;
    this.#map.delete(id);
    this.#bytes -= slot.weight;
  }
}

function weightOf(e: CachedSession): number {
  const n = e.bytes?.length ?? 0;
  return ENTRY_OVERHEAD + n + (e.record ? n * DECODED_FACTOR : 0);
}
