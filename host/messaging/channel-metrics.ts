import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const CHANNEL = ['tenant', 'env', 'team', 'channel', 'provider'] as const;

/**
 * Metrics of the channel providers, on the host's registry (so /metrics and each tenant's
 * /api/v1/usage show them): webhooks by outcome, deliveries by outcome, attempts, latency and
 * what waits. Labels are checked ids and closed sets of codes only.
 */
export class ChannelMetrics {
  readonly webhooks: Counter<'tenant' | 'env' | 'team' | 'channel' | 'provider' | 'outcome' | 'code'>;
  readonly deliveries: Counter<'tenant' | 'env' | 'team' | 'channel' | 'provider' | 'outcome'>;
  readonly attempts: Counter<'tenant' | 'env' | 'team' | 'channel' | 'provider' | 'result'>;
  readonly deliverySeconds: Histogram<'tenant' | 'env' | 'team' | 'channel' | 'provider'>;
  readonly queued: Gauge<'tenant'>;
  #queuedSource: () => ReadonlyMap<string, number> = () => new Map();

  constructor(registry: Registry) {
    this.webhooks = new Counter({
      name: 'greentic_webhooks_total',
      help: 'Provider webhooks by outcome (accepted, duplicate, ignored, handshake, refused) and refusal code',
      labelNames: [...CHANNEL, 'outcome', 'code'],
      registers: [registry],
    });
    this.deliveries = new Counter({
      name: 'greentic_egress_deliveries_total',
      help: 'Replies to providers by outcome (delivered, dead-lettered, duplicate)',
      labelNames: [...CHANNEL, 'outcome'],
      registers: [registry],
    });
    this.attempts = new Counter({
      name: 'greentic_egress_attempts_total',
      help: 'Requests to providers by result (ok, or the failure code)',
      labelNames: [...CHANNEL, 'result'],
      registers: [registry],
    });
    this.deliverySeconds = new Histogram({
      name: 'greentic_egress_delivery_seconds',
      help: 'From a reply being queued to the provider taking it',
      labelNames: [...CHANNEL],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
    const source = () => this.#queuedSource();
    this.queued = new Gauge({
      name: 'greentic_egress_queued',
      help: 'Replies of a tenant waiting for delivery on this instance',
      labelNames: ['tenant'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [tenant, n] of source()) this.set({ tenant }, n);
      },
    });
  }

  /** Feed the queued gauge from `source` (tenant -> waiting replies) at every scrape. */
  trackQueued(source: () => ReadonlyMap<string, number>): void {
    this.#queuedSource = source;
  }
}
