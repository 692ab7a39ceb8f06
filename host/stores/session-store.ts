import type { TenantScope } from '../tenancy/tenant-ctx.js';
import type { SessionKey } from './keys.js';
import type { StoreHealthReport } from './store-health.js';

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
  /** Forget a session; with `expected`, only if its revision is still that one (the expiry sweep must not race a turn). */
  delete(key: SessionKey, expected?: number): Promise<boolean>;
  /** Read a session without keeping it in any cache (the expiry sweep and exports walk every session); get() when omitted. */
  peek?(key: SessionKey): Promise<StoredSession | null>;
  /** Session ids of one tenant/env/team, sorted, starting after `after`. */
  list(scope: TenantScope, opts?: { after?: string; limit?: number }): Promise<string[]>;
  /** Make every change so far visible in the backend's own storage (files, KV). */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Whether the backend can save now, and what fails if not (for readiness and the admin API); optional. */
  health?(): StoreHealthReport;
  /** Bytes a tenant's sessions take in the backend's storage (usage figures); optional. */
  bytesStored?(tenant: string): Promise<number>;
}

/** A record found under one key must name that key: a copied or moved record is refused. */
export function checkBelongs(key: SessionKey, record: SessionRecord, file: string | (() => string)): void {
  if (record.tenant !== key.tenant || record.env !== key.env || record.team !== key.team || record.session !== key.session) {
    throw new CorruptSessionError(
      `session file ${typeof file === 'string' ? file : file()} holds ${record.tenant}/${record.env}/${record.team}/${record.session}, not the session at its path`,
    );
  }
}
