import { AckPolicy, DeliverPolicy, type ConsumerConfig, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../observability/logger.js';
import type { DeadLetterReason, DeadLetterStore } from '../../stores/dead-letters.js';
import { UnhandleableMessageError, type IngressHandler } from '../bus.js';
import type { NatsLink } from './links.js';
import { ingressConsumerName, ingressStream, isNotFound } from './resources.js';

const NS_PER_MS = 1_000_000;

/** How a tenant's ingress consumer delivers, and when it gives a message up. */
export interface DeliveryPolicy {
  /** How long a delivered message may stay unacknowledged before it goes to another instance. */
  readonly ackWaitMs: number;
  /** Attempts at handling a message; after the last failed one it becomes a dead letter. */
  readonly maxDeliver: number;
  /** Messages one instance works on at once, per tenant. */
  readonly maxInFlight: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = { ackWaitMs: 30_000, maxDeliver: 5, maxInFlight: 256 };

/** The wait before attempt n+1 after attempt n failed on a transient fault: 1 s, 2 s, 4 s ... at most 60 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/**
 * The durable consumer's configuration. The server redelivers a message nobody acknowledged
 * (its instance died) after a growing backoff starting at the ack wait, and stops after
 * maxDeliver + 1 deliveries: that last one is where an instance records a message whose every
 * attempt died with its instance as a dead letter, without running it again.
 */
export function ingressConsumerConfig(tenant: string, policy: DeliveryPolicy): Partial<ConsumerConfig> {
  const backoff = Array.from({ length: policy.maxDeliver }, (_, i) => Math.min(policy.ackWaitMs * 2 ** i, 3_600_000) * NS_PER_MS);
  return {
    durable_name: ingressConsumerName(tenant),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: policy.ackWaitMs * NS_PER_MS,
    max_deliver: policy.maxDeliver + 1,
    backoff,
    max_ack_pending: 10_000,
  };
}

/** Make sure the tenant's consumer exists with this policy (create or update; a confined user only looks it up). */
export async function ensureIngressConsumer(link: NatsLink, tenant: string, policy: DeliveryPolicy, logger: Logger): Promise<void> {
  const stream = ingressStream(tenant);
  const name = ingressConsumerName(tenant);
  const config = ingressConsumerConfig(tenant, policy);
  try {
    const info = await link.jsm.consumers.info(stream, name);
    const c = info.config;
    if (c.ack_wait === config.ack_wait && c.max_deliver === config.max_deliver && JSON.stringify(c.backoff ?? []) === JSON.stringify(config.backoff)) return;
    try {
      await link.jsm.consumers.update(stream, name, {
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        backoff: config.backoff,
        max_ack_pending: config.max_ack_pending,
      });
    } catch (e) {
      // A confined instance may not change the consumer the operator made: run with its settings.
      logger.warn(
        { event: 'consumer-unchanged', consumer: name, tenant_id: tenant, err: (e as Error).message },
        'could not update the ingress consumer; using it as it is',
      );
    }
    return;
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  await link.jsm.consumers.add(stream, config);
}

/** What the loop needs besides the message: where letters go, and the log. */
export interface ConsumeDeps {
  readonly link: NatsLink;
  readonly tenant: string;
  readonly policy: DeliveryPolicy;
  readonly deadLetters: DeadLetterStore;
  readonly logger: Logger;
  readonly track: (p: Promise<void>) => void;
  readonly closed: () => boolean;
}

/**
 * Pull the tenant's ingress and hand each message to `handler`. Handled: acknowledged. Refused as
 * unhandleable, or failed on its last allowed attempt: recorded as a dead letter with its
 * reason, then acknowledged. Failed otherwise: sent back with a growing delay. While a turn
 * runs the message is kept with in-progress acks.
 */
export async function consumeTenantIngress(deps: ConsumeDeps, handler: IngressHandler): Promise<() => void> {
  const { link, tenant, policy, logger } = deps;
  let stopped = false;
  let current: { close(): Promise<unknown> } | undefined;
  const start = async (): Promise<void> => {
    const consumer = await link.js.consumers.get(ingressStream(tenant), ingressConsumerName(tenant));
    const messages = await consumer.consume({ max_messages: policy.maxInFlight });
    current = messages;
    void (async () => {
      for await (const m of messages) deps.track(handleOne(deps, m, handler));
    })().catch((err: unknown) => {
      if (!deps.closed()) logger.error({ event: 'consumer-stopped', tenant_id: tenant, err: String(err) }, 'ingress consumer stopped');
    });
    // Another instance that stopped serving the tenant (it left that instance's bundle) retired the
    // consumer: while this one still serves it, it makes the consumer again and pulls from it at once
    // (the old pull would only notice after missed heartbeats); the messages waited in the stream.
    void (async () => {
      for await (const s of messages.status()) {
        if ((s.type !== 'consumer_deleted' && s.type !== 'consumer_not_found') || stopped || deps.closed()) continue;
        await ensureIngressConsumer(link, tenant, policy, logger);
        if (stopped || deps.closed()) return;
        await messages.close();
        await start();
        logger.warn(
          { event: 'consumer-recreated', tenant_id: tenant },
          'the ingress consumer was deleted while this instance serves its tenant; made it again',
        );
        return;
      }
    })().catch((err: unknown) => {
      if (!stopped && !deps.closed())
        logger.error({ event: 'consumer-stopped', tenant_id: tenant, err: String(err) }, 'the ingress consumer could not be made again');
    });
  };
  await start();
  return () => {
    stopped = true;
    void current?.close();
  };
}

async function handleOne(deps: ConsumeDeps, m: JsMsg, handler: IngressHandler): Promise<void> {
  const deliveries = m.info.deliveryCount;
  if (deliveries > deps.policy.maxDeliver) {
    await deadLetter(deps, m, 'max-deliveries', `delivered ${deliveries} times and never finished (each instance that took it stopped or timed out)`);
    return;
  }
  // Tell the server we are still at it, so a slow turn is not redelivered to someone else meanwhile.
  const heartbeat = setInterval(() => m.working(), Math.max(50, deps.policy.ackWaitMs / 3));
  try {
    const traceparent = m.headers?.get('traceparent') || undefined;
    await handler({ subject: m.subject, data: m.data, redelivered: m.redelivered, deliveries, ...(traceparent ? { traceparent } : {}) });
    clearInterval(heartbeat);
    m.ack();
  } catch (err) {
    clearInterval(heartbeat);
    if (err instanceof UnhandleableMessageError) {
      await deadLetter(deps, m, err.reason, err.message);
    } else if (deliveries >= deps.policy.maxDeliver) {
      await deadLetter(deps, m, 'max-deliveries', `failed on each of ${deliveries} deliveries; the last: ${errorText(err)}`);
    } else {
      const delay = retryDelayMs(deliveries);
      deps.logger.warn(
        { event: 'ingress-retry', tenant_id: deps.tenant, subject: m.subject, deliveries, retry_in_ms: delay, err: errorText(err) },
        'ingress handler failed; the message will be delivered again',
      );
      m.nak(delay);
    }
  }
}

async function deadLetter(deps: ConsumeDeps, m: JsMsg, reason: DeadLetterReason, detail: string): Promise<void> {
  const deliveries = m.info.deliveryCount;
  try {
    const id = await deps.deadLetters.record({
      tenant: deps.tenant,
      source: 'ingress',
      subject: m.subject,
      data: m.data,
      reason,
      detail,
      deliveries,
      dedupKey: `ingress-${m.info.streamSequence}`,
    });
    m.ack();
    deps.logger.warn(
      { event: 'dead-letter', tenant_id: deps.tenant, subject: m.subject, reason, detail, deliveries, dead_letter_id: id },
      'message cannot be handled; kept as a dead letter',
    );
  } catch (e) {
    // Could not keep it (NATS away, the tenant's dead letters full): keep it in ingress and try later.
    deps.logger.error(
      { event: 'dead-letter-failed', tenant_id: deps.tenant, subject: m.subject, reason, err: errorText(e) },
      'could not record a dead letter; the message stays in ingress',
    );
    m.nak(retryDelayMs(deliveries));
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
