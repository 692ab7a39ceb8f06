import { AckPolicy, DeliverPolicy, type JsMsg, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { decode, encode } from 'cbor-x';
import type { Logger } from '../../observability/logger.js';
import { checkId } from '../../tenancy/ids.js';
import { decodeJson } from '../envelope.js';
import type { NatsLink, NatsLinks } from '../nats/links.js';
import { egressStream, ensureStreams, isNotFound, kvStream } from '../nats/resources.js';
import { parseChannelSubject, type ChannelAddress } from '../subjects.js';
import {
  DeliverableReplySchema,
  DeliveryRecordSchema,
  DeliveryTakenOver,
  deliveryKey,
  queuedRecord,
  type DeliveryRecord,
  type PendingDelivery,
} from './delivery.js';
import type { IntakeSink } from './embedded-intake.js';

const NS_PER_MS = 1_000_000;

/** The KV bucket of one tenant's delivery records (kept two hours: longer than its egress stream keeps replies). */
export const deliveriesBucket = (tenant: string): string => `greentic_deliveries_${checkId('tenant', tenant, 'NATS resource name')}`;
/** The durable consumer of a tenant's egress stream that delivers its replies to providers. */
export const egressConsumerName = (tenant: string): string => `egress-${checkId('tenant', tenant, 'NATS resource name')}`;

/** The stream of a tenant's delivery records. */
export function deliveriesStreamConfig(tenant: string): StreamConfig {
  return { ...kvStream(deliveriesBucket(tenant), 200_000, -1, 4096), max_age: 2 * 3600_000 * NS_PER_MS } as StreamConfig;
}

/** How long a held reply may go without a sign of life before the server gives it to another instance (default). */
export const EGRESS_ACK_WAIT_MS = 30_000;

/**
 * Egress on NATS: a durable consumer per tenant on its egress stream (created with "new" messages
 * only, so a first start does not resend the past hour). Every instance serving the tenant pulls
 * from it, so each reply is held by one instance at a time; it is acknowledged after its
 * delivery is over, and while it waits its instance keeps telling the server it is at it. Its
 * record in the tenant's deliveries bucket, changed by compare-and-set only, decides what a
 * redelivered reply means: sent (acknowledge), in-flight (the instance died during the request:
 * a dead letter, never a second send), queued or retrying (take it over and go on).
 */
export class NatsEgressIntake {
  /** Each served tenant's consumption, by tenant (a tenant is added or retired at run time). */
  readonly #stops = new Map<string, () => void>();
  /** Tenants whose consumption is being started, and those removed while it was. */
  readonly #adding = new Map<string, Promise<void>>();
  readonly #cancelled = new Set<string>();
  readonly #held = new Set<JsMsg>();
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly links: NatsLinks,
    private readonly sink: IntakeSink,
    private readonly logger: Logger,
    private readonly maxHeld: (tenant: string) => number,
    private readonly who: string,
    private readonly ackWaitMs = EGRESS_ACK_WAIT_MS,
  ) {}

  async start(tenants: readonly string[]): Promise<void> {
    for (const tenant of tenants) await this.add(tenant);
    this.#heartbeat = setInterval(() => this.#held.forEach((m) => m.working()), Math.max(50, this.ackWaitMs / 3));
  }

  /** Take `tenant`'s replies from its egress stream (nothing happens if they are taken already). */
  add(tenant: string): Promise<void> {
    if (this.#stops.has(tenant) || this.#closed) return Promise.resolve();
    // One start per tenant at a time: two reloads in a row must not leave two consumptions, one of them never stopped.
    let adding = this.#adding.get(tenant);
    if (!adding) {
      adding = this.#consume(tenant).finally(() => {
        this.#adding.delete(tenant);
        this.#cancelled.delete(tenant);
      });
      this.#adding.set(tenant, adding);
    }
    return adding;
  }

  async #consume(tenant: string): Promise<void> {
    const link = this.links.forTenant(tenant);
    await ensureStreams(link.jsm, [deliveriesStreamConfig(tenant)], this.who);
    await this.#ensureConsumer(link, tenant);
    const kv = await new Kvm(link.js).open(deliveriesBucket(tenant), { allow_direct: true });
    const consumer = await link.js.consumers.get(egressStream(tenant), egressConsumerName(tenant));
    if (this.#closed || this.#cancelled.delete(tenant)) return;
    const messages = await consumer.consume({ max_messages: Math.min(1000, this.maxHeld(tenant)) });
    let stopped = false;
    void (async () => {
      for await (const m of messages) await this.#take(tenant, kv, m);
    })().catch((e: unknown) => {
      if (!this.#closed && !stopped) this.logger.error({ event: 'egress-consumer-stopped', tenant_id: tenant, err: String(e) }, 'egress consumer stopped');
    });
    const stop = () => {
      stopped = true;
      void messages.close();
    };
    // Removed (or closed) while it was starting: it stops at once instead of running unrecorded.
    if (this.#closed || this.#cancelled.delete(tenant)) stop();
    else this.#stops.set(tenant, stop);
  }

  /** Stop taking `tenant`'s replies (it left the bundle); what waits stays in its stream. */
  remove(tenant: string): void {
    if (this.#adding.has(tenant)) this.#cancelled.add(tenant);
    this.#stops.get(tenant)?.();
    this.#stops.delete(tenant);
  }

  async #ensureConsumer(link: NatsLink, tenant: string): Promise<void> {
    const ackWait = this.ackWaitMs * NS_PER_MS;
    try {
      const info = await link.jsm.consumers.info(egressStream(tenant), egressConsumerName(tenant));
      if (info.config.ack_wait !== ackWait) {
        await link.jsm.consumers
          .update(egressStream(tenant), egressConsumerName(tenant), { ack_wait: ackWait })
          .catch((e: unknown) =>
            this.logger.warn(
              { event: 'consumer-unchanged', tenant_id: tenant, err: (e as Error).message },
              'could not update the egress consumer; using it as it is',
            ),
          );
      }
      return;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    await link.jsm.consumers.add(egressStream(tenant), {
      durable_name: egressConsumerName(tenant),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ack_wait: ackWait,
      max_ack_pending: this.maxHeld(tenant),
    });
  }

  /** Take one egress message: acknowledge what is not a provider's reply, claim and queue what is. */
  async #take(tenant: string, kv: KV, m: JsMsg): Promise<void> {
    let address: ChannelAddress;
    try {
      address = parseChannelSubject(m.subject).address;
    } catch {
      m.ack();
      return;
    }
    const decoded = decodeJson(m.data);
    const reply = decoded.ok ? DeliverableReplySchema.safeParse(decoded.value) : undefined;
    if (!reply?.success || address.tenant !== tenant || !this.sink.delivers(address)) {
      m.ack();
      return;
    }
    const key = deliveryKey(address, m.headers?.get('Nats-Msg-Id') || `seq-${m.seq}`);
    let claimed: { record: DeliveryRecord; revision: number } | null;
    try {
      claimed = await this.#claim(kv, key);
    } catch (e) {
      this.logger.warn(
        { event: 'egress-claim-failed', tenant_id: tenant, err: (e as Error).message },
        'could not read or write a delivery record; the reply comes back later',
      );
      m.nak(5000);
      return;
    }
    if (!claimed) {
      m.ack();
      return;
    }
    let revision = claimed.revision;
    this.#held.add(m);
    const d: PendingDelivery = {
      address,
      subject: m.subject,
      data: m.data,
      reply: reply.data,
      record: claimed.record,
      handle: {
        save: async (record) => {
          try {
            revision = await kv.update(key, encode(record), revision);
          } catch (e) {
            if (/wrong last sequence/i.test((e as Error).message)) throw new DeliveryTakenOver(`delivery ${key} changed under this instance`);
            throw e;
          }
        },
        finish: async () => {
          this.#held.delete(m);
          m.ack();
        },
      },
    };
    if (claimed.record.state === 'in-flight') {
      await this.sink.deadLetter(d, 'the instance delivering it stopped during the request; not sent again, since the provider may have it', 'interrupted');
      return;
    }
    if (!this.sink.enqueue(d)) {
      this.#held.delete(m);
      m.nak(5000);
    }
  }

  /** Create the record, or read the existing one; null when the reply is already over (sent or a dead letter). */
  async #claim(kv: KV, key: string): Promise<{ record: DeliveryRecord; revision: number } | null> {
    const fresh = queuedRecord();
    try {
      return { record: fresh, revision: await kv.create(key, encode(fresh)) };
    } catch (e) {
      const entry = await kv.get(key);
      if (!entry || entry.operation !== 'PUT') throw e;
      const record = DeliveryRecordSchema.safeParse(decode(entry.value));
      if (!record.success) throw new Error(`delivery record ${key} is damaged`);
      if (record.data.state === 'sent' || record.data.state === 'dead') return null;
      // Queued or retrying (its instance died between requests) or in-flight: taken over by compare-and-set.
      const revision = await kv.update(key, encode(record.data), entry.revision);
      return { record: record.data, revision };
    }
  }

  stop(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    for (const stop of this.#stops.values()) stop();
    this.#stops.clear();
  }
}
