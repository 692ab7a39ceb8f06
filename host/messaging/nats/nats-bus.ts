import { headers as natsHeaders, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../observability/logger.js';
import type { DeadLetterStore } from '../../stores/dead-letters.js';
import { NatsDeadLetterStore } from '../../stores/nats-dead-letters.js';
import type { BusHandler, BusMessage, BusSubscription, IngressHandler, MessageBus, PublishOptions } from '../bus.js';
import { checkHeaderValue } from './headers.js';
import { consumeTenantIngress, DEFAULT_DELIVERY, ensureIngressConsumer, type DeliveryPolicy } from './ingress-consumer.js';
import { NatsLinks } from './links.js';
import { ensureStreams, globalStreams, ingressConsumerName, ingressStream, isNotFound, LEGACY_STREAMS, tenantStreams } from './resources.js';

export { ingressConsumerName, ingressStream, egressStream } from './resources.js';

export interface NatsBusOptions {
  /** How long a delivered ingress message may stay unacknowledged before it is redelivered. */
  readonly ackWaitMs?: number;
  /** Ingress messages one instance works on at once, per tenant. */
  readonly maxInFlight?: number;
  /** Attempts at handling an ingress message before it becomes a dead letter (default 5). */
  readonly maxDeliver?: number;
  /** Create each served tenant's streams and consumer if missing (hosts); clients that only talk to channels skip it. */
  readonly setup?: boolean;
  /** Where messages that cannot be handled go (default: each tenant's JetStream dead-letter stream). */
  readonly deadLetters?: DeadLetterStore;
  /** Who this instance is on NATS, for error messages. */
  readonly who?: string;
}

/**
 * The message bus over NATS. Each tenant has streams of its own (ingress work queue, egress,
 * dead letters), reached through its own connection when it is a NATS account of its own.
 * Ingress goes through one durable consumer per tenant, which every instance serving that
 * tenant pulls from: each message is handled once, and acknowledged only after its handler
 * (session saved, replies published) finished, so a crash or a server restart loses nothing.
 * Durable publishes carry a validated message id, so a retried publish is stored once.
 */
export class NatsBus implements MessageBus {
  readonly #inflight = new Set<Promise<void>>();
  /** Tenants whose connection and resources are set up (a tenant added at run time is set up when it is first consumed). */
  readonly #ready = new Set<string>();
  readonly #stops: Array<() => void> = [];
  readonly #policy: DeliveryPolicy;
  readonly deadLetters: DeadLetterStore;
  #closed = false;
  readonly redelivers = true;

  private constructor(
    readonly links: NatsLinks,
    private readonly logger: Logger,
    private readonly opts: NatsBusOptions,
    private readonly ownsLinks: boolean,
  ) {
    this.#policy = {
      ackWaitMs: opts.ackWaitMs ?? DEFAULT_DELIVERY.ackWaitMs,
      maxDeliver: opts.maxDeliver ?? DEFAULT_DELIVERY.maxDeliver,
      maxInFlight: opts.maxInFlight ?? DEFAULT_DELIVERY.maxInFlight,
    };
    this.deadLetters = opts.deadLetters ?? new NatsDeadLetterStore(links);
  }

  /** The main connection (global secrets; every tenant without an account of its own). */
  get nc(): NatsConnection {
    return this.links.main.nc;
  }

  /** A bus over these connections, or over one connection that every tenant shares (then closing the bus drains it). */
  static async open(links: NatsLinks | NatsConnection, logger: Logger, opts: NatsBusOptions = {}): Promise<NatsBus> {
    const owned = !(links instanceof NatsLinks);
    const l = links instanceof NatsLinks ? links : await NatsLinks.of(links);
    return new NatsBus(l, logger, opts, owned);
  }

  /** A host's bus: the served tenants' account connections, then their resources (created if missing). */
  static async forHost(links: NatsLinks, tenants: readonly string[], logger: Logger, opts: NatsBusOptions, onRetry?: (line: string) => void): Promise<NatsBus> {
    await links.connectTenants(tenants, onRetry);
    const bus = new NatsBus(links, logger, opts, false);
    await bus.setUp(tenants);
    return bus;
  }

  /**
   * Create (or find) the JetStream resources of these tenants and the global secrets bucket, and
   * say once if the shared streams of an earlier version are still on the server.
   */
  async setUp(tenants: readonly string[]): Promise<void> {
    const who = this.opts.who ?? 'this NATS user';
    await ensureStreams(this.links.main.jsm, globalStreams(), who);
    // A few tenants at a time: a start with hundreds of tenants is bound by round trips, not by the server.
    await inBatches(tenants, SETUP_PARALLEL, (tenant) => ensureStreams(this.links.forTenant(tenant).jsm, tenantStreams(tenant), who));
    for (const t of tenants) this.#ready.add(t);
    // Earlier versions knew no accounts: their shared streams can only be on a deployment without them.
    if (!this.links.hasTenantAccounts) await this.#warnLegacy();
  }

  async #warnLegacy(): Promise<void> {
    const found: string[] = [];
    for (const name of LEGACY_STREAMS) {
      try {
        const info = await this.links.main.jsm.streams.info(name);
        found.push(`${name} (${info.state.messages} messages)`);
      } catch {
        // Not there (or not ours to see): nothing to say.
      }
    }
    if (found.length > 0)
      this.logger.warn(
        { event: 'nats-legacy-streams', streams: found },
        `shared streams of an earlier version are still on the server and are no longer used: ${found.join(', ')}; ` +
          'each tenant now has its own (see the README, "Migrating from shared streams")',
      );
  }

  async publish(subject: string, data: Uint8Array): Promise<void> {
    this.#linkOf(subject).nc.publish(subject, data);
  }

  /** Publish into the subject's stream and wait for the server to store it; retried through reconnects. */
  async publishDurable(subject: string, data: Uint8Array, id: string, opts: PublishOptions = {}): Promise<void> {
    const { signal } = opts;
    const msgID = checkHeaderValue('Nats-Msg-Id', id);
    let headers: MsgHdrs | undefined;
    if (opts.traceparent !== undefined) {
      headers = natsHeaders();
      headers.set('traceparent', checkHeaderValue('traceparent', opts.traceparent));
    }
    const { js } = this.#linkOf(subject);
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      try {
        await js.publish(subject, data, { msgID, timeout: 5000, ...(headers ? { headers } : {}) });
        return;
      } catch (e) {
        if (this.#closed || attempt >= 60 || isPermanent(e)) throw e;
        signal?.throwIfAborted();
        this.logger.warn({ event: 'publish-retry', subject, attempt, err: (e as Error).message }, 'durable publish failed; retrying');
        await pause(Math.min(2000, 100 * attempt), signal);
      }
    }
  }

  /** The connection of the tenant a channel subject belongs to (the main one for anything else). */
  #linkOf(subject: string) {
    const tokens = subject.split('.');
    const tenant = tokens.length === 7 && tokens[0] === 'greentic' && tokens[1] === 'messaging' ? tokens[4]! : undefined;
    try {
      return tenant === undefined ? this.links.main : this.links.forTenant(tenant);
    } catch {
      return this.links.main;
    }
  }

  subscribe(pattern: string, handler: BusHandler, opts: { queue?: string } = {}): BusSubscription {
    const sub: Subscription = this.#linkOf(pattern).nc.subscribe(pattern, {
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
    const added = tenants.filter((t) => !this.#ready.has(t));
    if (added.length > 0 && this.opts.setup !== false) {
      // Tenants new since start (added to the bundle while the host runs): their account and resources first.
      await this.links.connectTenants(added);
      await this.setUp(added);
    }
    await inBatches(tenants, SETUP_PARALLEL, async (tenant) => {
      const link = this.links.forTenant(tenant);
      await ensureIngressConsumer(link, tenant, this.#policy, this.logger);
      stops.push(
        await consumeTenantIngress(
          { link, tenant, policy: this.#policy, deadLetters: this.deadLetters, logger: this.logger, track: (p) => this.#track(p), closed: () => this.#closed },
          handler,
        ),
      );
    });
    this.#stops.push(...stops);
    return { unsubscribe: () => stops.forEach((s) => s()) };
  }

  /**
   * The tenant left the bundle: delete its durable consumer (idempotent). Its streams stay, and
   * the messages waiting in them: its data is kept until an operator deletes it.
   */
  async retireIngress(tenant: string): Promise<void> {
    await this.links
      .forTenant(tenant)
      .jsm.consumers.delete(ingressStream(tenant), ingressConsumerName(tenant))
      .catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
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
    if (this.ownsLinks) await this.links.main.nc.drain().catch(() => undefined);
    else await this.links.close();
  }
}

/** Tenants set up at once at start. */
const SETUP_PARALLEL = 16;

/** Run `fn` over `items`, at most `n` at a time; the first failure is thrown once all started ones settled. */
async function inBatches<T>(items: readonly T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += n) {
    const results = await Promise.allSettled(items.slice(i, i + n).map(fn));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** Errors a retry cannot fix: a refused permission, a full stream, a message the stream does not take. */
function isPermanent(e: unknown): boolean {
  return /permissions violation|maximum (messages|bytes|payload)|message size exceeds|no stream matches/i.test(e instanceof Error ? e.message : String(e));
}

export type { BusMessage };

/** Wait `ms`, or less when `signal` ends first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
