import type { DataEvent } from '../data/data-events.js';
import type { TenantEvent } from '../flow/tenant-reports.js';
import type { DenialEvent } from '../observability/metrics.js';
import type { AuditInput, AuditOutcome } from './audit-record.js';

/** Where the host's parts report what an audit record is made of (the trail, or nothing). */
export interface AuditSink {
  record(input: AuditInput): void;
}

/**
 * A data export or erasure as an audit record; expiry (the sweep removing idle sessions, one
 * event per session) is not an act of anyone and stays out of the trail.
 */
export function dataEventRecord(e: DataEvent): AuditInput | undefined {
  if (e.action === 'expire') return undefined;
  return {
    tenant: e.tenant,
    env: e.env,
    actor: e.actor,
    action: e.action === 'export' ? 'data.export' : 'data.erase',
    target: `${e.target.kind}:${e.target.id}`,
    outcome: e.outcome,
    detail: e.error,
    counts: e.counts,
  };
}

/** A reload of a tenant, or an operator's admin action on one, as an audit record (actions on no tenant have no tenant trail). */
export function tenantEventRecord(e: TenantEvent): AuditInput | undefined {
  if (e.kind === 'reload') {
    const r = e.report;
    return {
      tenant: r.tenant,
      actor: e.trigger === 'admin' || e.trigger === 'api' ? 'operator' : 'host',
      action: 'tenant.reload',
      target: `tenant:${r.tenant}`,
      outcome: outcomeOf(r.outcome),
      detail: `${e.trigger}: ${r.outcome}${r.version ? ` ${r.version}` : ''}${r.problems.length > 0 ? `, ${r.problems.length} problem(s)` : ''}`,
    };
  }
  if (e.tenant === undefined) return undefined;
  return {
    tenant: e.tenant,
    actor: 'operator',
    action: 'admin.action',
    target: `tenant:${e.tenant}`,
    outcome: outcomeOf(e.outcome),
    detail: `${e.action}${e.from ? ` from ${e.from}` : ''}`,
  };
}

/** A reload's or admin action's outcome (`ok`, `not-found`, or a reload outcome) as an audit outcome. */
function outcomeOf(outcome: string): AuditOutcome {
  if (outcome === 'not-found') return 'not-found';
  return outcome === 'failed' || outcome === 'kept-last-good' ? 'failed' : 'ok';
}

/** A capability call the host refused, as an audit record (rate-limited by the trail). */
export function denialRecord(e: DenialEvent): AuditInput {
  return {
    tenant: e.tenant,
    env: e.env,
    team: e.team,
    actor: e.component === undefined ? 'component' : `component:${e.component}`,
    action: 'access.denied',
    target: `capability:${e.capability}.${e.fn}`,
    outcome: 'denied',
    detail: e.reason,
  };
}
