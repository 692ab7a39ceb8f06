import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** An access denial, as the capabilities report it. */
export interface DenialEvent {
  readonly capability: string;
  readonly fn: string;
  readonly tenant: string;
  readonly env: string;
  readonly team: string | undefined;
  readonly reason: string;
}

/** Where a piece of tenant work happened: the labels every tenant metric carries. */
export interface ScopeLabels {
  readonly tenant: string;
  readonly env: string;
  readonly team: string;
}

const SCOPE = ['tenant', 'env', 'team'] as const;

/**
 * Per-host metrics (prom-client, a registry of this host's own: nothing global), labelled by
 * tenant, env and team so one tenant's figures can be read alone.
 */
export class HostMetrics {
  readonly registry = new Registry();
  readonly messagesIn = new Counter({
    name: 'greentic_messages_in_total',
    help: 'Ingress messages accepted for a channel',
    labelNames: [...SCOPE, 'channel'],
    registers: [this.registry],
  });
  readonly messagesOut = new Counter({
    name: 'greentic_messages_out_total',
    help: 'Messages published to egress',
    labelNames: [...SCOPE, 'channel'],
    registers: [this.registry],
  });
  readonly nodeInvocations = new Counter({
    name: 'greentic_node_invocations_total',
    help: 'Component (node) calls',
    labelNames: [...SCOPE, 'component'],
    registers: [this.registry],
  });
  readonly nodeErrors = new Counter({
    name: 'greentic_node_errors_total',
    help: 'Component calls that failed, by error code',
    labelNames: [...SCOPE, 'component', 'code'],
    registers: [this.registry],
  });
  readonly turnErrors = new Counter({
    name: 'greentic_turn_errors_total',
    help: 'Turns that failed, by error code',
    labelNames: [...SCOPE, 'code'],
    registers: [this.registry],
  });
  readonly accessDenials = new Counter({
    name: 'greentic_access_denials_total',
    help: 'Capability calls refused with access-denied',
    labelNames: [...SCOPE, 'capability'],
    registers: [this.registry],
  });
  readonly nodeSeconds = new Histogram({
    name: 'greentic_node_duration_seconds',
    help: 'Component call latency, from queueing to result',
    labelNames: [...SCOPE, 'component'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly turnSeconds = new Histogram({
    name: 'greentic_turn_duration_seconds',
    help: 'Turn latency, from ingress to the last reply published',
    labelNames: [...SCOPE],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly liveInstances: Gauge<'tenant'>;
  #liveSource: () => ReadonlyMap<string, number> = () => new Map();

  constructor() {
    const source = () => this.#liveSource();
    this.liveInstances = new Gauge({
      name: 'greentic_live_instances',
      help: 'Component instances kept warm in workers',
      labelNames: ['tenant'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [tenant, n] of source()) this.set({ tenant }, n);
      },
    });
  }

  /** The most recent denials (at most 100), for inspection. */
  readonly denials: DenialEvent[] = [];
  denialCount = 0;

  /** Record an access denial. */
  recordDenial(event: DenialEvent): void {
    this.denialCount++;
    this.accessDenials.inc({ tenant: event.tenant, env: event.env, team: event.team ?? 'default', capability: `${event.capability}.${event.fn}` });
    this.denials.push(event);
    if (this.denials.length > 100) this.denials.shift();
  }

  /** Feed the live-instances gauge from `source` (tenant -> instances) at every scrape. */
  trackLiveInstances(source: () => ReadonlyMap<string, number>): void {
    this.#liveSource = source;
  }

  /** One tenant's figures: every series labelled with it, as plain JSON. */
  async tenantUsage(tenant: string): Promise<Record<string, Array<{ labels: Record<string, string | number>; value: number }>>> {
    const out: Record<string, Array<{ labels: Record<string, string | number>; value: number }>> = {};
    for (const metric of await this.registry.getMetricsAsJSON()) {
      const values = (metric.values as Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>)
        .filter((v) => v.labels.tenant === tenant)
        .map((v) => ({ labels: { ...(v.metricName && v.metricName !== metric.name ? { series: v.metricName } : {}), ...v.labels }, value: v.value }));
      if (values.length > 0) out[metric.name] = values;
    }
    return out;
  }
}
