import type { TenantRuntime } from '../flow/runtime.js';
import type { Logger } from '../observability/logger.js';
import type { HostMetrics } from '../observability/metrics.js';
import type { DeadLetterStore } from '../stores/dead-letters.js';
import type { SessionKey } from '../stores/keys.js';
import type { SecretStore } from '../stores/secret-store.js';
import { SessionExpiry } from '../stores/session-expiry.js';
import type { SessionStore } from '../stores/session-store.js';
import type { TenantModel } from '../tenancy/model.js';
import type { DataEvent, DataEventSink } from './data-events.js';
import { FileTenantWipe } from './file-wipe.js';
import { TenantData, type TenantWipe } from './tenant-data.js';

export interface DataLifeOptions {
  readonly sessions: SessionStore;
  readonly deadLetters: DeadLetterStore;
  readonly secrets: SecretStore;
  readonly tenants: ReadonlyMap<string, TenantModel>;
  /** The tenants this instance serves: the expiry sweep walks theirs only. */
  readonly runtimes: ReadonlyMap<string, TenantRuntime>;
  /** How a tenant's stored data is wiped: given with NATS stores (their buckets and streams); else the embedded data directory's. */
  readonly wipe: TenantWipe | undefined;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly metrics?: HostMetrics;
  readonly onEvent?: DataEventSink | undefined;
  /** Sessions erased or expired: told after they are deleted. */
  readonly onSessionsRemoved?: ((keys: readonly SessionKey[]) => void) | undefined;
  /** The expiry sweep's pace. */
  readonly expiry?: { readonly perTick?: number; readonly intervalMs?: number };
}

/** A tenant's data over its life in one host: export and erasure, and the expiry sweep (started here, stopped by the caller). */
export function startDataLife(opts: DataLifeOptions): { data: TenantData; expiry: SessionExpiry } {
  const emit = (e: DataEvent): void => {
    const fields = {
      event: `data-${e.action}`,
      tenant_id: e.tenant,
      env_id: e.env,
      target: `${e.target.kind}:${e.target.id}`,
      actor: e.actor,
      outcome: e.outcome,
      counts: e.counts,
      err: e.error,
    };
    if (e.action === 'expire') opts.logger.debug(fields, 'session expired');
    else if (e.outcome === 'ok') opts.logger.info(fields, `data ${e.action} done`);
    else opts.logger.warn(fields, `data ${e.action} failed`);
    try {
      opts.onEvent?.(e);
    } catch (err) {
      opts.logger.error({ event: 'data-event-hook-failed', err: String(err) }, 'the data event hook threw; the action itself is done');
    }
  };
  const wipe = opts.wipe ?? new FileTenantWipe(opts.dataDir);
  const data = new TenantData({
    sessions: opts.sessions,
    deadLetters: opts.deadLetters,
    secrets: opts.secrets,
    tenants: opts.tenants,
    wipe,
    onEvent: emit,
    onSessionsRemoved: opts.onSessionsRemoved,
  });
  const expiry = new SessionExpiry(opts.sessions, {
    ...opts.expiry,
    logger: opts.logger,
    metrics: opts.metrics,
    scopes: function* () {
      for (const rt of opts.runtimes.values()) {
        const t = rt.model;
        for (const env of t.envs.values()) {
          yield {
            tenant: t.id,
            env: env.id,
            policy: env.settings.sessions,
            teams: [...t.teams.values()].filter((tm) => tm.envs.has(env.id)).map((tm) => tm.id),
          };
        }
      }
    },
    onExpired: (key, reason) => {
      opts.metrics?.sessionsExpired.inc({ tenant: key.tenant, env: key.env, team: key.team, reason });
      opts.onSessionsRemoved?.([key]);
      emit({
        action: 'expire',
        tenant: key.tenant,
        env: key.env,
        target: { kind: 'session', id: key.session },
        actor: 'expiry',
        outcome: 'ok',
        counts: { sessions: 1 },
      });
    },
  });
  expiry.start();
  return { data, expiry };
}
