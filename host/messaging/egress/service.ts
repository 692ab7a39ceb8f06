import type { TurnWaiter } from '../../api/routes/ingress.js';
import type { Logger } from '../../observability/logger.js';
import type { DeadLetterStore } from '../../stores/dead-letters.js';
import { findChannel, type Workspace } from '../../tenancy/model.js';
import type { MessageBus } from '../bus.js';
import type { ChannelMetrics } from '../channel-metrics.js';
import type { NatsLinks } from '../nats/links.js';
import type { ChannelProviders } from '../providers/registry.js';
import type { ChannelAddress } from '../subjects.js';
import { Deliverer, type DeliveryTarget } from './deliverer.js';
import type { PendingDelivery } from './delivery.js';
import { DEFAULT_EGRESS_LIMITS } from './egress-limits.js';
import { EmbeddedEgressIntake, type IntakeSink } from './embedded-intake.js';
import { FileOutbox } from './file-outbox.js';
import type { NatsEgressIntake } from './nats-intake.js';
import { FairScheduler } from './scheduler.js';

/** Requests to providers in flight at once on one instance, over all tenants. */
export const EGRESS_CONCURRENCY = 32;

export interface EgressServiceOptions {
  readonly workspace: Workspace;
  /** Tenants this instance serves. */
  readonly tenants: readonly string[];
  readonly providers: ChannelProviders;
  readonly deadLetters: DeadLetterStore;
  readonly logger: Logger;
  readonly metrics: ChannelMetrics;
  /** Embedded: the bus and the data folder (for the outbox). NATS: the tenants' connections. */
  readonly source:
    | { readonly kind: 'embedded'; readonly bus: MessageBus; readonly dataDir: string }
    | { readonly kind: 'nats'; readonly links: NatsLinks; readonly who: string };
  readonly concurrency?: number;
  /** NATS: how long a held reply may go without a sign of life before another instance gets it. */
  readonly ackWaitMs?: number | undefined;
}

/**
 * Delivers replies to providers for the tenants this instance serves: from the embedded bus
 * through a file outbox, or from each tenant's NATS egress stream through a durable consumer.
 * Deliveries are scheduled per tenant (fair share, concurrency, rate limits of settings.egress),
 * each request bounded by a timeout, so one slow provider only ever delays its own tenant.
 */
export class EgressService {
  private constructor(
    private readonly scheduler: FairScheduler<PendingDelivery & { tenant: string; lane: string; channel: string }>,
    private readonly intake: EmbeddedEgressIntake | NatsEgressIntake,
    private readonly outbox: FileOutbox | undefined,
    private readonly delivers: (tenant: string) => boolean,
  ) {}

  static async start(opts: EgressServiceOptions): Promise<EgressService> {
    const { workspace, providers } = opts;
    const target = (a: ChannelAddress): DeliveryTarget => {
      const found = findChannel(workspace, a.tenant, a.env, a.team, a.channel);
      if (!found.ok) return { ok: false, reason: `the channel is no longer configured: ${found.reason}` };
      const provider = providers.get(found.channel.provider);
      if (!provider) return { ok: false, reason: `channel ${a.team}/${a.channel} is a ${found.channel.provider} channel, which no provider delivers to` };
      const limits = found.tenant.envs.get(a.env)?.settings.egress ?? found.tenant.settings.egress;
      return { ok: true, provider, channel: found.channel, limits };
    };
    const deliverer = new Deliverer({ target, providers, deadLetters: opts.deadLetters, logger: opts.logger, metrics: opts.metrics });
    const tenantLimits = (t: string) => workspace.tenants.get(t)?.settings.egress ?? DEFAULT_EGRESS_LIMITS;
    const scheduler = new FairScheduler<PendingDelivery & { tenant: string; lane: string; channel: string }>(
      opts.concurrency ?? EGRESS_CONCURRENCY,
      {
        tenant: (t) => tenantLimits(t),
        channel: (job) => {
          const t = target(job.address);
          const l = t.ok ? t.limits : DEFAULT_EGRESS_LIMITS;
          return { ratePerSec: l.channelRatePerSec, burst: l.channelBurst };
        },
      },
      (job) => deliverer.attempt(job),
      (job, err) => opts.logger.error({ event: 'egress-error', tenant_id: job.tenant, err: String(err) }, 'delivery failed unexpectedly; retrying'),
    );
    opts.metrics.trackQueued(() => scheduler.queued());
    const sink: IntakeSink = {
      delivers: (a) => {
        const t = target(a);
        return t.ok;
      },
      enqueue: (d) =>
        scheduler.enqueue(
          Object.assign(d, {
            tenant: d.address.tenant,
            lane: `${d.subject}\n${d.reply.session}`,
            channel: `${d.address.env}/${d.address.team}/${d.address.channel}`,
          }),
        ),
      deadLetter: (d, detail, code) => deliverer.deadLetter(d, detail, code),
    };
    // Only tenants with a channel some provider delivers to need an intake (no consumer, bucket or subscription otherwise).
    const delivers = (t: string) =>
      [...(workspace.tenants.get(t)?.teams.values() ?? [])].some((team) => [...team.channels.values()].some((c) => providers.get(c.provider)));
    const tenants = opts.tenants.filter(delivers);
    if (opts.source.kind === 'nats') {
      // Loaded here: an embedded host never reads the NATS client libraries.
      const { NatsEgressIntake } = await import('./nats-intake.js');
      const intake = new NatsEgressIntake(opts.source.links, sink, opts.logger, (t) => tenantLimits(t).maxQueued, opts.source.who, opts.ackWaitMs);
      await intake.start(tenants);
      return new EgressService(scheduler, intake, undefined, delivers);
    }
    const { outbox, adopted } = await FileOutbox.open(opts.source.dataDir);
    const intake = new EmbeddedEgressIntake(opts.source.bus, outbox, sink, opts.logger);
    await intake.start(tenants, adopted);
    return new EgressService(scheduler, intake, outbox, delivers);
  }

  /**
   * A tenant added or changed at run time: take its replies if it now has a channel some provider
   * delivers to (nothing happens if they are taken already). A tenant whose provider channels are
   * all gone keeps its intake until it leaves: a reply already queued for it is dead-lettered
   * with the reason at delivery, not left unread.
   */
  async serve(tenant: string): Promise<void> {
    if (this.delivers(tenant)) await this.intake.add(tenant);
  }

  /** A tenant that left the bundle: stop taking its replies (what waits stays for a later start). */
  retire(tenant: string): void {
    this.intake.remove(tenant);
  }

  /** The embedded intake waits for turns on behalf of the webhook routes; on NATS there is nothing to wait for. */
  get turnWaiter(): TurnWaiter | null {
    return this.intake instanceof EmbeddedEgressIntake ? this.intake : null;
  }

  /** Resolves when no delivery is queued or running on this instance (a CLI replay waits for this). */
  async idle(): Promise<void> {
    // Embedded: a reply just published may still be on its way into the outbox, not queued yet.
    if (this.intake instanceof EmbeddedEgressIntake) await this.intake.written();
    await this.scheduler.idle();
  }

  /** Stop taking replies, let running requests finish; what waits stays in the outbox or the stream for the next start. */
  async close(): Promise<void> {
    this.intake.stop();
    await this.scheduler.close();
    await this.outbox?.close();
  }
}
