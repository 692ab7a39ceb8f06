import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { problemOf } from '../stores/storage-problem.js';
import { isValidId } from '../tenancy/ids.js';
import { encodeRecord, makeRecord, type AuditInput, type AuditRecord } from './audit-record.js';
import type { AuditPage, AuditQuery, AuditStore } from './audit-store.js';
import { MAX_BATCH_BYTES } from './file-audit-store.js';

export interface AuditTrailOptions {
  readonly store: AuditStore;
  readonly logger: Logger;
  /** The host's metrics registry (records, drops and write failures are counted there). */
  readonly metrics?: Registry;
  /** Access denials recorded per tenant per window; the rest are counted and summed up in one record (default 60). */
  readonly denialsPerWindow?: number;
  /** The rate window (ms, default 60000). */
  readonly windowMs?: number;
  /** Records waiting to be written per tenant; past it new ones are dropped and counted (default 10000). */
  readonly maxPending?: number;
  readonly now?: () => number;
}

/** Why records were not written: the `counts` keys of an `audit.dropped` record. */
type DropReason = 'rate_limited' | 'queue_full' | 'write_failed';

interface TenantTrail {
  queue: AuditRecord[];
  writing: Promise<void> | undefined;
  windowStart: number;
  denials: number;
  dropped: Record<DropReason, number>;
  summaryTimer: NodeJS.Timeout | undefined;
  failing: boolean;
}

const BATCH_RECORDS = 256;

/**
 * The audit trail of one host: `record` never throws and never waits (a turn or a request is
 * not slowed by it); records are queued per tenant and written in batches (one fsync each) by
 * one writer per tenant. Denials are rate-limited per tenant, so a guest or a caller looping on
 * refused requests cannot fill the disk; what was dropped (rate limit, full queue, a failed
 * write: a full disk) is counted in the metrics and written as one `audit.dropped` record.
 * A write that fails is logged and counted; it never reaches the process.
 */
export class AuditTrail {
  readonly #store: AuditStore;
  readonly #logger: Logger;
  readonly #tenants = new Map<string, TenantTrail>();
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxPending: number;
  readonly #now: () => number;
  readonly #written: Counter | undefined;
  readonly #droppedTotal: Counter | undefined;
  readonly #failures: Counter | undefined;
  #closed = false;

  constructor(opts: AuditTrailOptions) {
    this.#store = opts.store;
    this.#logger = opts.logger;
    this.#limit = opts.denialsPerWindow ?? 60;
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#maxPending = opts.maxPending ?? 10_000;
    this.#now = opts.now ?? Date.now;
    const registers = opts.metrics ? [opts.metrics] : [];
    if (opts.metrics) {
      this.#written = new Counter({ name: 'greentic_audit_records_total', help: 'Audit records written', labelNames: ['tenant', 'action'], registers });
      this.#droppedTotal = new Counter({
        name: 'greentic_audit_dropped_total',
        help: 'Audit records not written (rate_limited, queue_full, write_failed)',
        labelNames: ['tenant', 'reason'],
        registers,
      });
      this.#failures = new Counter({
        name: 'greentic_audit_write_failures_total',
        help: 'Failed audit writes, by storage problem',
        labelNames: ['tenant', 'problem'],
        registers,
      });
    }
  }

  /** Record an event; never throws (a malformed event is logged and dropped). */
  record(input: AuditInput): void {
    if (this.#closed) return;
    // A denial over the rate costs a counter, not a record: a guest looping on refused calls pays little.
    if (input.action === 'access.denied' && isValidId(input.tenant) && !this.#withinRate(input.tenant, this.#trail(input.tenant))) return;
    let record: AuditRecord;
    try {
      record = makeRecord(input, this.#now());
    } catch (e) {
      this.#logger.error({ event: 'audit-record-invalid', err: (e as Error).message }, 'an audit event was malformed and not recorded');
      return;
    }
    this.#enqueue(record.tenant, this.#trail(record.tenant), record);
  }

  #trail(tenant: string): TenantTrail {
    let t = this.#tenants.get(tenant);
    if (!t) {
      t = {
        queue: [],
        writing: undefined,
        windowStart: this.#now(),
        denials: 0,
        dropped: { rate_limited: 0, queue_full: 0, write_failed: 0 },
        summaryTimer: undefined,
        failing: false,
      };
      this.#tenants.set(tenant, t);
    }
    return t;
  }

  #withinRate(tenant: string, t: TenantTrail): boolean {
    const now = this.#now();
    if (now - t.windowStart >= this.#windowMs) {
      this.#summarise(tenant, t);
      t.windowStart = now;
      t.denials = 0;
    }
    if (t.denials < this.#limit) {
      t.denials++;
      return true;
    }
    this.#drop(tenant, t, 'rate_limited', 1);
    // The summary is written when the window ends, even if no other denial comes to trigger it.
    t.summaryTimer ??= setTimeout(
      () => {
        t.summaryTimer = undefined;
        this.#summarise(tenant, t);
      },
      Math.max(1, t.windowStart + this.#windowMs - now),
    ).unref();
    return false;
  }

  #drop(tenant: string, t: TenantTrail, reason: DropReason, n: number): void {
    t.dropped[reason] += n;
    this.#droppedTotal?.inc({ tenant, reason }, n);
  }

  /** Write one `audit.dropped` record for what was dropped since the last one, if anything was. */
  #summarise(tenant: string, t: TenantTrail): void {
    if (t.summaryTimer) clearTimeout(t.summaryTimer);
    t.summaryTimer = undefined;
    const d = t.dropped;
    if (d.rate_limited + d.queue_full + d.write_failed === 0) return;
    const counts = Object.fromEntries(Object.entries(d).filter(([, n]) => n > 0));
    t.dropped = { rate_limited: 0, queue_full: 0, write_failed: 0 };
    const record = makeRecord(
      {
        tenant,
        actor: 'host',
        action: 'audit.dropped',
        target: 'audit',
        outcome: 'dropped',
        detail: `records not written since the last summary (denials over ${this.#limit} per ${this.#windowMs} ms, a full queue, failed writes)`,
        counts,
      },
      this.#now(),
    );
    // The summary itself bypasses the queue bound: there is at most one per window and tenant.
    t.queue.push(record);
    this.#kick(tenant, t);
  }

  #enqueue(tenant: string, t: TenantTrail, record: AuditRecord): void {
    if (t.queue.length >= this.#maxPending) {
      this.#drop(tenant, t, 'queue_full', 1);
      return;
    }
    t.queue.push(record);
    this.#kick(tenant, t);
  }

  #kick(tenant: string, t: TenantTrail): void {
    if (t.writing) return;
    t.writing = this.#drain(tenant, t).finally(() => {
      t.writing = undefined;
      if (t.queue.length > 0) this.#kick(tenant, t);
    });
  }

  async #drain(tenant: string, t: TenantTrail): Promise<void> {
    // Let the current event-loop turn queue what it records, so that they share one write and one fsync.
    await new Promise<void>((r) => setImmediate(r));
    while (t.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < t.queue.length && n < BATCH_RECORDS && bytes < MAX_BATCH_BYTES / 2) bytes += encodeRecord(t.queue[n++]!).length;
      const batch = t.queue.splice(0, n);
      try {
        await this.#store.append(tenant, batch);
        for (const r of batch) this.#written?.inc({ tenant, action: r.action });
        if (t.failing) {
          t.failing = false;
          this.#logger.warn({ event: 'audit-write-recovered', tenant_id: tenant }, 'audit records are written again');
          this.#summarise(tenant, t);
        }
      } catch (e) {
        const problem = problemOf(e);
        this.#failures?.inc({ tenant, problem });
        this.#drop(tenant, t, 'write_failed', batch.length);
        // One line per failing streak: a full disk is not a log flood.
        if (!t.failing)
          this.#logger.error(
            { event: 'audit-write-failed', tenant_id: tenant, problem, err: (e as Error).message, lost: batch.length },
            'audit records could not be written',
          );
        t.failing = true;
      }
    }
  }

  /** Resolve once every record queued so far is written (or counted as failed). */
  async flush(): Promise<void> {
    for (;;) {
      const busy = [...this.#tenants.values()].filter((t) => t.writing);
      if (busy.length === 0) return;
      await Promise.all(busy.map((t) => t.writing));
    }
  }

  /** A page of `tenant`'s records (the API's caller's own tenant only). */
  read(tenant: string, query: AuditQuery): Promise<AuditPage> {
    return this.#store.read(tenant, query);
  }

  /** Write the pending summaries and records, then take no more. */
  async close(): Promise<void> {
    for (const [tenant, t] of this.#tenants) this.#summarise(tenant, t);
    await this.flush();
    this.#closed = true;
  }
}
