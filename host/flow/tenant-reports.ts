import { createHash } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { formatProblem, type ConfigProblem } from '../tenancy/config/problems.js';

/**
 * Where a tenant stands on this instance:
 * - serving: its current version loaded without problems;
 * - degraded: served, but some of its channels are unavailable (it loaded with problems, at start
 *   or as a new tenant);
 * - stale: served at its last good version; a newer one was refused (see `refused`);
 * - failed: not served, nothing of it loaded;
 * - not-served: its configuration loaded, but this instance leaves it to others (--tenants);
 * - removed: it was served and is no longer in the bundle (its data is kept).
 */
export type TenantState = 'serving' | 'degraded' | 'stale' | 'failed' | 'not-served' | 'removed';

/** What one load or reload of a tenant did. */
export type ReloadOutcome = 'loaded' | 'added' | 'reloaded' | 'unchanged' | 'kept-last-good' | 'failed' | 'removed' | 'not-found';

/** One tenant, as the admin API lists it. */
export interface TenantReport {
  readonly tenant: string;
  readonly state: TenantState;
  /** The served version (content hash of its configuration and components), or null. */
  readonly version: string | null;
  readonly loadedAt: string | null;
  /** Problems of the served version (its unavailable channels), or of the last attempt when nothing is served. */
  readonly problems: readonly ConfigProblem[];
  /** The last version refused while an older one kept serving. */
  readonly refused: { readonly version: string; readonly at: string; readonly problems: readonly ConfigProblem[] } | null;
  readonly lastReload: { readonly at: string; readonly outcome: ReloadOutcome; readonly version: string | null } | null;
  /** Whether its folders are watched: every one, some (a bound was reached), or none (no --watch). */
  readonly watch: 'on' | 'partial' | 'off';
}

/** What a reload did, as the admin API and `greentic-host reload` answer it. */
export interface ReloadReport {
  readonly tenant: string;
  readonly outcome: ReloadOutcome;
  /** The version now served (or, for a refused or failed one, the version that was tried). */
  readonly version: string | null;
  readonly previousVersion: string | null;
  readonly problems: readonly ConfigProblem[];
}

/** What happened, for whoever listens (audit logs come here later): a reload, or an admin's request. */
export type TenantEvent =
  | { readonly kind: 'reload'; readonly report: ReloadReport; readonly trigger: ReloadTrigger }
  | { readonly kind: 'admin'; readonly action: string; readonly tenant: string | undefined; readonly outcome: string; readonly from: string | undefined };

/** What asked for a reload. */
export type ReloadTrigger = 'start' | 'watch' | 'admin' | 'api';

/** The version of a tenant: a hash of its configuration and the digests of the components it runs. */
export function tenantVersion(configDigest: string, componentDigests: readonly string[]): string {
  return createHash('sha256')
    .update(`${configDigest}\n${[...componentDigests].sort().join('\n')}`)
    .digest('hex')
    .slice(0, 16);
}

/** The reload metrics of one host, on its own registry. */
export class ReloadMetrics {
  readonly reloads: Counter<'tenant' | 'outcome'>;
  readonly problems: Gauge<'tenant'>;

  constructor(registry: Registry) {
    this.reloads = new Counter({
      name: 'greentic_tenant_reloads_total',
      help: 'Loads and reloads of a tenant, by outcome (reloaded, unchanged, kept-last-good, added, removed, failed)',
      labelNames: ['tenant', 'outcome'],
      registers: [registry],
    });
    this.problems = new Gauge({
      name: 'greentic_tenant_config_problems',
      help: "Configuration problems of a tenant: its served version's and its last refused version's",
      labelNames: ['tenant'],
      registers: [registry],
    });
  }

  /** Count, log and gauge one report (`problems`: the tenant's problems now, served and refused). */
  record(report: ReloadReport, trigger: ReloadTrigger, problems: number, logger: Logger): void {
    this.reloads.inc({ tenant: report.tenant, outcome: report.outcome });
    this.problems.set({ tenant: report.tenant }, problems);
    const fields = { event: `tenant-${report.outcome}`, tenant_id: report.tenant, trigger, version: report.version, previous_version: report.previousVersion };
    if (report.outcome === 'kept-last-good' || report.outcome === 'failed') {
      logger.error(
        { ...fields, problems: report.problems.length },
        `tenant ${report.tenant}: ${report.outcome === 'failed' ? 'failed to load' : 'kept its last good version'}`,
      );
    } else if (trigger !== 'start' || report.outcome !== 'loaded') logger.info(fields, `tenant ${report.tenant}: ${report.outcome}`);
    for (const p of report.problems) logger.error({ event: 'config-problem', tenant_id: p.tenant }, formatProblem(p));
  }
}
