import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SessionKey } from '../stores/keys.js';
import type { StorageProblem } from '../stores/storage-problem.js';
import type { StoreMetricsSink, StoreOp } from '../stores/store-health.js';

/** An access denial, as the capabilities report it. */
export interface DenialEvent {
  readonly capability: string;
  readonly fn: string;
  readonly tenant: string;
  readonly env: string;
  readonly team: string | undefined;
  readonly reason: string;
  /** The component whose call was refused (for the audit log). */
  readonly component?: string | undefined;
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
export class HostMetrics implements StoreMetricsSink {
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
  readonly storeFailures = new Counter({
    name: 'greentic_store_failures_total',
    help: 'Store operations that failed (a turn refused for lack of space, a checkpoint retried), by operation and problem',
    labelNames: ['store', 'op', 'problem'],
    registers: [this.registry],
  });
  readonly sessionsQuarantined = new Counter({
    name: 'greentic_sessions_quarantined_total',
    help: 'Damaged session files moved aside (the conversation started anew)',
    labelNames: [...SCOPE],
    registers: [this.registry],
  });
  readonly sessionsExpired = new Counter({
    name: 'greentic_sessions_expired_total',
    help: 'Sessions ended by settings.sessions (idle_ttl or max_age), at a turn or by the sweep',
    labelNames: [...SCOPE, 'reason'],
    registers: [this.registry],
  });
  readonly workerCrashes = new Counter({
    name: 'greentic_worker_crashes_total',
    help: 'Guest workers that died unexpectedly (a worker thread, or a sandbox process of the process tier), by the tenant of the call they ran',
    labelNames: ['tenant', 'tier'],
    registers: [this.registry],
  });
  readonly liveInstances: Gauge<'tenant'>;
  readonly logLinesDropped: Counter<'tenant'>;
  #liveSource: () => ReadonlyMap<string, number> = () => new Map();
  #dropSource: () => ReadonlyMap<string, { readonly lines: number }> = () => new Map();

  constructor() {
    const drops = () => this.#dropSource();
    // Read from the log cap's running totals (which only grow) at each scrape.
    this.logLinesDropped = new Counter({
      name: 'greentic_log_lines_dropped_total',
      help: 'Log lines of a tenant dropped because its log volume went over the per-tenant cap',
      labelNames: ['tenant'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [tenant, t] of drops()) this.inc({ tenant }, t.lines);
      },
    });
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

  storeFailure(store: string, op: StoreOp, problem: StorageProblem): void {
    this.storeFailures.inc({ store, op, problem });
  }

  sessionQuarantined(key: SessionKey): void {
    this.sessionsQuarantined.inc({ tenant: key.tenant, env: key.env, team: key.team });
  }

  /** Feed the dropped-log-lines figures from the log cap's totals (tenant -> lines) at every scrape. */
  trackLogDrops(source: () => ReadonlyMap<string, { readonly lines: number }>): void {
    this.#dropSource = source;
  }

  /** Feed the live-instances gauge from `source` (tenant -> instances) at every scrape. */
  trackLiveInstances(source: () => ReadonlyMap<string, number>): void {
    this.#liveSource = source;
  }
}
