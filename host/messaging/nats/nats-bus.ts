import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { Logger } from '../../observability/logger.js';
import type { BusHandler, BusMessage, BusSubscription, IngressHandler, MessageBus } from '../bus.js';
import { checkId } from '../../tenancy/ids.js';

/** Streams the host keeps its messages in. */
export const INGRESS_STREAM = 'GREENTIC_INGRESS';
export const EGRESS_STREAM = 'GREENTIC_EGRESS';

const NS_PER_MS = 1_000_000;

export interface NatsBusOptions {
  /** How long a delivered ingress message may stay unacknowledged before it is redelivered. */
  readonly ackWaitMs?: number;
  /** Ingress messages one instance works on at once, per tenant. */
  readonly maxInFlight?: number;
  /** Create the streams if missing (hosts); clients that only talk to channels skip it. */
  readonly setup?: boolean;
}

/** The durable consumer that carries one tenant's ingress to the instances serving it. */
export function ingressConsumerName(tenant: string): string {
  return `ingress-${checkId('tenant', tenant, 'consumer name')}`;
}

/**
 * The message bus over NATS. Ingress goes through a JetStream stream and one durable consumer
 * per tenant, which every instance serving that tenant pulls from: each message is handled
 * once, and acknowledged only after its handler (session saved, replies published) finished,
 * so a crash or a server restart loses nothing. Durable publishes carry a message id, so a
 * retried publish is stored once.
 */
export class NatsBus implements MessageBus {
  readonly #inflight = new Set<Promise<void>>();
  readonly #stops: Array<() => void> = [];
  #closed = false;
  readonly redelivers = true;

  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly logger: Logger,
    private readonly opts: NatsBusOptions,
  ) {}

  /** Set up (or find) the streams on an open connection. */
  static async open(nc: NatsConnection, logger: Logger, opts: NatsBusOptions = {}): Promise<NatsBus> {
    const jsm = await jetstreamManager(nc, { checkAPI: opts.setup !== false });
    if (opts.setup === false) return new NatsBus(nc, jetstream(nc), jsm, logger, opts);
    await ensureStream(jsm, {
      name: INGRESS_STREAM,
      subjects: ['greentic.messaging.ingress.>'],
      // Work queue: a message is gone once acknowledged; per-tenant consumers never overlap.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: 24 * 3600 * 1000 * NS_PER_MS,
      duplicate_window: 2 * 60 * 1000 * NS_PER_MS,
    });
    await ensureStream(jsm, {
      name: EGRESS_STREAM,
      subjects: ['greentic.messaging.egress.>'],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 3600 * 1000 * NS_PER_MS,
      duplicate_window: 2 * 60 * 1000 * NS_PER_MS,
    });
    return new NatsBus(nc, jetstream(nc), jsm, logger, opts);
  }

  async publish(subject: string, data: Uint8Array): Promise<void> {
    this.nc.publish(subject, data);
  }

  /** Publish into the subject's stream and wait for the server to store it; retried through reconnects. */
  async publishDurable(subject: string, data: Uint8Array, id: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.js.publish(subject, data, { msgID: id, timeout: 5000 });
        return;
      } catch (e) {
        if (this.#closed || attempt >= 60) throw e;
        this.logger.warn({ event: 'publish-retry', subject, attempt, err: (e as Error).message }, 'durable publish failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
      }
    }
  }

  subscribe(pattern: string, handler: BusHandler, opts: { queue?: string } = {}): BusSubscription {
    const sub: Subscription = this.nc.subscribe(pattern, {
      queue: opts.queue,
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ event: 'subscription-error', pattern, err: err.message }, 'subscription failed');
          return;
        }
        this.#track(Promise.resolve().then(() => handler({ subject: msg.subject, data: msg.data })));
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async consumeIngress(tenants: readonly string[], handler: IngressHandler): Promise<BusSubscription> {
    const stops: Array<() => void> = [];
    for (const tenant of tenants) {
      const name = ingressConsumerName(tenant);
      const config = {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: `greentic.messaging.ingress.*.${tenant}.*.*`,
        ack_wait: (this.opts.ackWaitMs ?? 30_000) * NS_PER_MS,
        max_ack_pending: 10_000,
      };
      try {
        await this.jsm.consumers.info(INGRESS_STREAM, name);
        await this.jsm.consumers.update(INGRESS_STREAM, name, { ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending });
      } catch {
        await this.jsm.consumers.add(INGRESS_STREAM, config);
      }
      const consumer = await this.js.consumers.get(INGRESS_STREAM, name);
      const messages = await consumer.consume({ max_messages: this.opts.maxInFlight ?? 256 });
      let stopped = false;
      stops.push(() => {
        stopped = true;
        void messages.close();
      });
      // Another instance that stopped serving the tenant retired its consumer: while this one
      // still serves it, it makes the consumer again (the messages wait in the stream meanwhile).
      void (async () => {
        for await (const s of messages.status()) {
          if ((s.type !== 'consumer_deleted' && s.type !== 'consumer_not_found') || stopped || this.#closed) continue;
          await this.jsm.consumers.add(INGRESS_STREAM, config).then(
            () =>
              this.logger.warn(
                { event: 'consumer-recreated', consumer: name },
                'the ingress consumer was deleted while this instance serves its tenant; made it again',
              ),
            () => undefined,
          );
        }
      })().catch(() => undefined);
      void (async () => {
        for await (const m of messages) {
          // Tell the server we are still at it, so a slow turn is not redelivered to someone else meanwhile.
          const heartbeat = setInterval(() => m.working(), Math.max(50, (this.opts.ackWaitMs ?? 30_000) / 3));
          const work = Promise.resolve()
            .then(() => handler({ subject: m.subject, data: m.data, redelivered: m.redelivered }))
            .finally(() => clearInterval(heartbeat))
            .then(
              () => m.ack(),
              (err: unknown) => {
                this.logger.error(
                  { event: 'ingress-handler-error', subject: m.subject, err: String(err) },
                  'ingress handler failed; the message will be redelivered',
                );
                m.nak(1000);
              },
            );
          this.#track(work);
        }
      })().catch((err: unknown) => {
        if (!this.#closed) this.logger.error({ event: 'consumer-stopped', consumer: name, err: String(err) }, 'ingress consumer stopped');
      });
    }
    this.#stops.push(...stops);
    return { unsubscribe: () => stops.forEach((s) => s()) };
  }

  /** The tenant left the bundle: delete its durable consumer (idempotent; its waiting messages stay in the stream). */
  async retireIngress(tenant: string): Promise<void> {
    await this.jsm.consumers.delete(INGRESS_STREAM, ingressConsumerName(tenant)).catch((e: unknown) => {
      if (!/consumer not found/i.test(e instanceof Error ? e.message : String(e))) throw e;
    });
  }

  #track(p: Promise<void>): void {
    const t = p
      .catch((err: unknown) => this.logger.error({ event: 'bus-handler-error', err: String(err) }, 'bus handler failed'))
      .finally(() => this.#inflight.delete(t));
    this.#inflight.add(t);
  }

  async drain(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#stops) stop();
    await this.drain();
    await this.nc.drain().catch(() => undefined);
  }
}

async function ensureStream(jsm: JetStreamManager, config: Parameters<JetStreamManager['streams']['add']>[0]): Promise<void> {
  try {
    await jsm.streams.info(config.name!);
  } catch {
    await jsm.streams.add(config);
  }
}

export type { BusMessage };
