import type { AuditRecord } from './audit-record.js';

/** Which records to read: those at or after `since`, after the cursor of an earlier page, at most `limit`. */
export interface AuditQuery {
  /** Epoch milliseconds. */
  readonly since?: number | undefined;
  /** The `next` of the page before. */
  readonly cursor?: string | undefined;
  readonly limit: number;
}

/** One page of a tenant's records, oldest first; `next` reads on (null: nothing more now). */
export interface AuditPage {
  readonly records: readonly AuditRecord[];
  readonly next: string | null;
}

/** Where a tenant's audit records go: a file per tenant (embedded) or a stream per tenant (NATS). */
export interface AuditStore {
  /** Append `records` (all of one tenant), durably: resolves once they are on disk or in the stream. */
  append(tenant: string, records: readonly AuditRecord[]): Promise<void>;
  /** Read a page of the tenant's own records. */
  read(tenant: string, query: AuditQuery): Promise<AuditPage>;
}

/** A cursor the store did not make: answered 400 by the API. */
export class AuditCursorError extends Error {
  override readonly name = 'AuditCursorError';
}
