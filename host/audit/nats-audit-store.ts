import type { NatsLinks } from '../messaging/nats/links.js';
import { auditStream, auditSubject } from '../messaging/nats/resources.js';
import { checkId } from '../tenancy/ids.js';
import { encodeRecord, parseRecord, type AuditRecord } from './audit-record.js';
import { AuditCursorError, type AuditPage, type AuditQuery, type AuditStore } from './audit-store.js';

const CURSOR = /^[0-9]{1,15}$/;

/**
 * A tenant's audit records in its own JetStream stream (GREENTIC_AUDIT_{tenant}, subject
 * greentic.audit.{tenant}, in the tenant's account when it has one): append-only (the stream
 * refuses deletes and purges), the oldest dropped past its message limit. A record is appended
 * once the server has acknowledged it (stored to its file storage). The cursor is the sequence.
 */
export class NatsAuditStore implements AuditStore {
  constructor(private readonly links: NatsLinks) {}

  async append(tenant: string, records: readonly AuditRecord[]): Promise<void> {
    const t = checkId('tenant', tenant, 'audit log');
    const { js } = this.links.forTenant(t);
    await Promise.all(records.map((r) => js.publish(auditSubject(t), encodeRecord(r), { timeout: 5000 })));
  }

  async read(tenant: string, query: AuditQuery): Promise<AuditPage> {
    const t = checkId('tenant', tenant, 'audit log');
    if (query.cursor !== undefined && !CURSOR.test(query.cursor))
      throw new AuditCursorError(`cursor ${JSON.stringify(query.cursor.slice(0, 40))} is not one this API gave`);
    const { jsm } = this.links.forTenant(t);
    const info = await jsm.streams.info(auditStream(t));
    const { first_seq: first, last_seq: last } = info.state;
    if (info.state.messages === 0) return { records: [], next: null };
    let seq = query.cursor !== undefined ? Math.max(first, Number(query.cursor) + 1) : first;
    // Records are appended in time order: the first at or after `since` is found in log2(n) reads, not n.
    if (query.since !== undefined && query.cursor === undefined) seq = await this.#firstSince(t, first, last, query.since);
    const records: AuditRecord[] = [];
    while (seq <= last && records.length < query.limit) {
      const m = await this.#at(t, seq);
      if (!m) break;
      seq = m.seq + 1;
      if (m.record && (query.since === undefined || Date.parse(m.record.time) >= query.since)) records.push(m.record);
    }
    return { records, next: records.length >= query.limit && seq <= last ? String(seq - 1) : null };
  }

  /** The record at `seq` or the next one after it; null past the end. */
  async #at(tenant: string, seq: number): Promise<{ seq: number; record: AuditRecord | null } | null> {
    let m;
    try {
      m = await this.links.forTenant(tenant).jsm.streams.getMessage(auditStream(tenant), { seq, next_by_subj: auditSubject(tenant) } as { seq: number });
    } catch (e) {
      if (/no message found|not found/i.test((e as Error).message)) return null;
      throw e;
    }
    if (!m) return null;
    return { seq: m.seq, record: parseRecord(new TextDecoder().decode(m.data), tenant) };
  }

  async #firstSince(tenant: string, first: number, last: number, since: number): Promise<number> {
    let lo = first;
    let hi = last + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const m = await this.#at(tenant, mid);
      const time = m?.record ? Date.parse(m.record.time) : Infinity;
      if (time < since) lo = Math.min(hi, (m?.seq ?? mid) + 1);
      else hi = mid;
    }
    return lo;
  }
}
