import type { Registry } from 'prom-client';

/** The figures a platform bills a tenant (or one of its environments) by; every field always present. */
export interface UsageFigures {
  /** Turns answered (run until the flow waited or ended), and turns that failed. */
  turns: number;
  turn_errors: number;
  messages_in: number;
  messages_out: number;
  /** Component (node) calls, and those that failed. */
  node_calls: number;
  node_errors: number;
  /** Seconds a worker spent in the tenant's guest calls (wall time inside the sandbox, capability calls included). */
  guest_call_seconds: number;
  access_denials: number;
  sessions_expired: number;
}

/** GET /api/v1/usage: counted since this host started (`since`), per environment and in total. */
export interface TenantUsage {
  readonly tenant: string;
  readonly since: string;
  readonly totals: UsageFigures;
  readonly envs: Record<string, UsageFigures>;
  /** Bytes the tenant's sessions take in the store now (as last written to files or KV). */
  readonly bytes_stored: number;
}

/** Which metric (and which series of a histogram) feeds which figure. */
const SOURCES: ReadonlyArray<readonly [metric: string, series: string, field: keyof UsageFigures]> = [
  ['greentic_turn_duration_seconds', 'greentic_turn_duration_seconds_count', 'turns'],
  ['greentic_turn_errors_total', 'greentic_turn_errors_total', 'turn_errors'],
  ['greentic_messages_in_total', 'greentic_messages_in_total', 'messages_in'],
  ['greentic_messages_out_total', 'greentic_messages_out_total', 'messages_out'],
  ['greentic_node_invocations_total', 'greentic_node_invocations_total', 'node_calls'],
  ['greentic_node_errors_total', 'greentic_node_errors_total', 'node_errors'],
  ['greentic_node_duration_seconds', 'greentic_node_duration_seconds_sum', 'guest_call_seconds'],
  ['greentic_access_denials_total', 'greentic_access_denials_total', 'access_denials'],
  ['greentic_sessions_expired_total', 'greentic_sessions_expired_total', 'sessions_expired'],
];

function zero(): UsageFigures {
  return {
    turns: 0,
    turn_errors: 0,
    messages_in: 0,
    messages_out: 0,
    node_calls: 0,
    node_errors: 0,
    guest_call_seconds: 0,
    access_denials: 0,
    sessions_expired: 0,
  };
}

/** One tenant's usage from the host's metrics registry: its own series only, summed per environment. */
export async function tenantUsage(registry: Registry, tenant: string, envIds: Iterable<string>, since: number, bytesStored: number): Promise<TenantUsage> {
  const totals = zero();
  const envs = new Map<string, UsageFigures>();
  for (const env of envIds) envs.set(env, zero());
  const wanted = new Map(SOURCES.map(([metric, series, field]) => [metric, { series, field }]));
  for (const metric of await registry.getMetricsAsJSON()) {
    const src = wanted.get(metric.name);
    if (!src) continue;
    for (const v of metric.values as Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>) {
      if (v.labels.tenant !== tenant || (v.metricName ?? metric.name) !== src.series) continue;
      totals[src.field] += v.value;
      const e = envs.get(String(v.labels.env));
      if (e) e[src.field] += v.value;
    }
  }
  return { tenant, since: new Date(since).toISOString(), totals, envs: Object.fromEntries(envs), bytes_stored: bytesStored };
}
