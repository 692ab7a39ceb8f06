import type { Logger } from '../../observability/logger.js';
import type { TurnWaiter } from '../../api/routes/ingress.js';
import type { BusSubscription, MessageBus } from '../bus.js';
import { decodeJson } from '../envelope.js';
import { egressSubject, parseChannelSubject, type ChannelAddress } from '../subjects.js';
import { DeliverableReplySchema, queuedRecord, type DeliveryRecord, type PendingDelivery } from './delivery.js';
import type { FileOutbox, OutboxEntry } from './file-outbox.js';

/** What the intake hands a reply to, and asks first. */
export interface IntakeSink {
  /** True when the channel at `address` is one whose replies a provider delivers. */
  delivers(address: ChannelAddress): boolean;
  /** Queue a delivery; false when its tenant's queue is full. */
  enqueue(d: PendingDelivery): boolean;
  /** Keep a delivery that cannot be queued or sent again as a dead letter. */
  deadLetter(d: PendingDelivery, detail: string, code: string): Promise<unknown>;
}

/**
 * Egress on the embedded bus: each reply to a provider's message is written to the outbox
 * (fsync) as it is published, then queued for delivery; at start, what a previous process left
 * is queued again (or, found in-flight, kept as a dead letter). It also tells the webhook
 * routes when a turn is over and its replies are on disk, so a webhook is acknowledged only then.
 */
export class EmbeddedEgressIntake implements TurnWaiter {
  /** Each served tenant's egress subscription, by tenant (a tenant is added or retired at run time). */
  readonly #subs = new Map<string, BusSubscription>();
  /** Outbox writes not finished yet, by "subject\nmessage id". */
  readonly #writing = new Map<string, Set<Promise<unknown>>>();
  readonly #waiters = new Map<string, Set<(r: 'done' | 'timeout') => void>>();

  constructor(
    private readonly bus: MessageBus,
    private readonly outbox: FileOutbox,
    private readonly sink: IntakeSink,
    private readonly logger: Logger,
  ) {}

  /** Take over what a previous process left, then listen to the tenants' egress. */
  async start(tenants: readonly string[], adopted: readonly OutboxEntry[]): Promise<void> {
    for (const e of adopted) {
      const d = this.#pending(e);
      if (!d) {
        await this.outbox.remove(e);
        continue;
      }
      if (e.record.state === 'in-flight')
        await this.sink.deadLetter(d, 'the instance delivering it stopped during the request; not sent again, since the provider may have it', 'interrupted');
      else if (e.record.state === 'sent' || e.record.state === 'dead') await this.outbox.remove(e);
      else this.#queue(d);
    }
    for (const t of tenants) this.add(t);
  }

  /** Listen to `tenant`'s egress (nothing happens if it is heard already). */
  add(tenant: string): void {
    if (this.#subs.has(tenant)) return;
    this.#subs.set(
      tenant,
      this.bus.subscribe(`greentic.messaging.egress.*.${tenant}.*.*`, (m) => this.#onEgress(m.subject, m.data)),
    );
  }

  /** Stop listening to `tenant`'s egress (it left the bundle). */
  remove(tenant: string): void {
    this.#subs.get(tenant)?.unsubscribe();
    this.#subs.delete(tenant);
  }

  expect(address: ChannelAddress, id: string, timeoutMs: number): { done: Promise<'done' | 'timeout'>; cancel(): void } {
    const key = `${egressSubject(address)}\n${id}`;
    let resolve!: (r: 'done' | 'timeout') => void;
    const done = new Promise<'done' | 'timeout'>((r) => (resolve = r));
    const set = this.#waiters.get(key) ?? new Set();
    this.#waiters.set(key, set);
    const settle = (r: 'done' | 'timeout') => {
      clearTimeout(timer);
      set.delete(settle);
      if (set.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key);
      resolve(r);
    };
    set.add(settle);
    const timer = setTimeout(() => settle('timeout'), timeoutMs);
    return { done, cancel: () => settle('timeout') };
  }

  #onEgress(subject: string, data: Uint8Array): void {
    const decoded = decodeJson(data);
    if (!decoded.ok) return;
    const v = decoded.value as { kind?: unknown; in_reply_to?: unknown } | null;
    const key = `${subject}\n${String(v?.in_reply_to)}`;
    if (v?.kind === 'turn-end' || v?.kind === 'error') {
      // Every reply of the turn was published (and its write started) before its end: wait for those writes.
      const writes = [...(this.#writing.get(key) ?? [])];
      void Promise.allSettled(writes).then(() => this.#waiters.get(key)?.forEach((settle) => settle('done')));
      return;
    }
    const reply = DeliverableReplySchema.safeParse(v);
    if (!reply.success) return;
    let address: ChannelAddress;
    try {
      address = parseChannelSubject(subject).address;
    } catch {
      return;
    }
    if (!this.sink.delivers(address)) return;
    const write = this.outbox.add(address.tenant, subject, data, queuedRecord()).then(
      (entry) => {
        const d = this.#pending(entry);
        if (d) this.#queue(d);
      },
      (e: unknown) =>
        this.logger.error(
          {
            event: 'outbox-write-failed',
            tenant_id: address.tenant,
            env_id: address.env,
            team_id: address.team,
            channel: address.channel,
            err: (e as Error).message,
          },
          'a reply could not be written to the outbox; it is not delivered',
        ),
    );
    const set = this.#writing.get(key) ?? new Set();
    this.#writing.set(key, set);
    set.add(write);
    void write.finally(() => {
      set.delete(write);
      if (set.size === 0) this.#writing.delete(key);
    });
  }

  /** Resolves when every reply taken in so far is in the outbox and queued (or its write failed). */
  async written(): Promise<void> {
    while (this.#writing.size > 0) await Promise.allSettled([...this.#writing.values()].flatMap((set) => [...set]));
  }

  /** The delivery of an outbox entry, or null when the entry is not a reply to a channel that delivers. */
  #pending(e: OutboxEntry): PendingDelivery | null {
    let address: ChannelAddress;
    try {
      address = parseChannelSubject(e.subject).address;
    } catch {
      return null;
    }
    const decoded = decodeJson(e.data);
    const reply = decoded.ok ? DeliverableReplySchema.safeParse(decoded.value) : undefined;
    if (!reply?.success || address.tenant !== e.tenant) return null;
    return {
      address,
      subject: e.subject,
      data: e.data,
      reply: reply.data,
      record: e.record,
      handle: {
        save: (record: DeliveryRecord) => this.outbox.save(e, record),
        finish: () => this.outbox.remove(e),
      },
    };
  }

  #queue(d: PendingDelivery): void {
    if (!this.sink.enqueue(d)) void this.sink.deadLetter(d, `the tenant's egress queue is full (settings.egress.max_queued)`, 'queue-full');
  }

  stop(): void {
    for (const s of this.#subs.values()) s.unsubscribe();
    this.#subs.clear();
    for (const set of this.#waiters.values()) for (const settle of set) settle('timeout');
  }
}
