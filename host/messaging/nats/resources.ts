import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { checkId } from '../../tenancy/ids.js';
import { NatsSetupError } from './options.js';

/**
 * The JetStream resources of the deployment, one set per tenant. Nothing is shared between
 * tenants: a tenant's ingress, egress, dead letters, sessions and secrets are streams of its
 * own, so a consumer filter, a stream-info subjects filter, a rollup or a reused Nats-Msg-Id
 * can only ever reach that tenant's own data. Names are built from checked ids only.
 */

const NS_PER_MS = 1_000_000;

/** Stream of one tenant's ingress (work queue). */
export const ingressStream = (tenant: string): string => `GREENTIC_INGRESS_${tid(tenant)}`;
/** Stream of one tenant's egress (replies kept for providers). */
export const egressStream = (tenant: string): string => `GREENTIC_EGRESS_${tid(tenant)}`;
/** Stream of one tenant's dead letters. */
export const deadLetterStream = (tenant: string): string => `GREENTIC_DLQ_${tid(tenant)}`;
/** The one subject of a tenant's dead-letter stream. */
export const deadLetterSubject = (tenant: string): string => `greentic.deadletter.${tid(tenant)}`;
/** Stream of one tenant's audit records (append-only: deletes and purges refused). */
export const auditStream = (tenant: string): string => `GREENTIC_AUDIT_${tid(tenant)}`;
/** The one subject of a tenant's audit stream. */
export const auditSubject = (tenant: string): string => `greentic.audit.${tid(tenant)}`;
/** KV bucket of one tenant's sessions. */
export const sessionsBucket = (tenant: string): string => `greentic_sessions_${tid(tenant)}`;
/** KV bucket of one tenant's secrets (tenant and team namespaces). */
export const secretsBucket = (tenant: string): string => `greentic_secrets_${tid(tenant)}`;
/** KV bucket of the global secret namespace ("global" is a reserved tenant id, so no tenant has this bucket). */
export const GLOBAL_SECRETS_BUCKET = 'greentic_secrets_global';
/** The durable consumer every instance serving a tenant pulls its ingress from. */
export const ingressConsumerName = (tenant: string): string => `ingress-${tid(tenant)}`;

/** The shared streams and buckets of earlier versions (one for every tenant), found at start to say they are no longer used. */
export const LEGACY_STREAMS = ['GREENTIC_INGRESS', 'GREENTIC_EGRESS', 'KV_greentic_sessions', 'KV_greentic_secrets'] as const;

const tid = (tenant: string) => checkId('tenant', tenant, 'NATS resource name');

/**
 * Count limits of a tenant's resources: one tenant can fill only its own. Bytes are bounded by
 * the tenant's NATS account (`jetstream: { max_file: ... }` in nats-server.conf), not per stream:
 * a stream's max_bytes is reserved on the server up front, so 1.6 GiB per tenant ran a 56 GiB
 * server out of storage at 35 tenants (bench/nats-tenants.mjs). A byte limit here is opt-in.
 */
export interface TenantLimits {
  readonly ingressMaxMessages: number;
  readonly egressMaxMessages: number;
  readonly deadLetterMaxMessages: number;
  readonly secretsMaxKeys: number;
  /** Audit records kept; the oldest go first when full (an audit record is never refused). */
  readonly auditMaxMessages: number;
  /** Per-stream byte cap, reserved on the server for each stream of each tenant (-1: none, the account's quota applies). */
  readonly streamMaxBytes: number;
}

export const DEFAULT_TENANT_LIMITS: TenantLimits = {
  ingressMaxMessages: 100_000,
  egressMaxMessages: 100_000,
  deadLetterMaxMessages: 10_000,
  secretsMaxKeys: 10_000,
  auditMaxMessages: 1_000_000,
  streamMaxBytes: -1,
};

/** The largest message any stream takes (nats-server's default max_payload). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** The stream configurations of one tenant, in the order they are created. */
export function tenantStreams(tenant: string, limits: TenantLimits = DEFAULT_TENANT_LIMITS): StreamConfig[] {
  const t = tid(tenant);
  const common = { storage: StorageType.File, num_replicas: 1, allow_rollup_hdrs: false, max_msg_size: MAX_MESSAGE_BYTES } as const;
  return [
    {
      ...common,
      name: ingressStream(t),
      subjects: [`greentic.messaging.ingress.*.${t}.*.*`],
      // A message is gone once acknowledged; a full stream refuses new messages rather than dropping old ones.
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
      max_msgs: limits.ingressMaxMessages,
      max_bytes: limits.streamMaxBytes,
      max_age: 24 * 3600 * 1000 * NS_PER_MS,
      duplicate_window: 2 * 60 * 1000 * NS_PER_MS,
    } as StreamConfig,
    {
      ...common,
      name: egressStream(t),
      subjects: [`greentic.messaging.egress.*.${t}.*.*`],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs: limits.egressMaxMessages,
      max_bytes: limits.streamMaxBytes,
      max_age: 3600 * 1000 * NS_PER_MS,
      duplicate_window: 2 * 60 * 1000 * NS_PER_MS,
    } as StreamConfig,
    {
      ...common,
      name: deadLetterStream(t),
      subjects: [deadLetterSubject(t)],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      max_msgs: limits.deadLetterMaxMessages,
      max_bytes: limits.streamMaxBytes,
      duplicate_window: 2 * 60 * 1000 * NS_PER_MS,
      allow_direct: true,
    } as StreamConfig,
    {
      ...common,
      name: auditStream(t),
      subjects: [auditSubject(t)],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs: limits.auditMaxMessages,
      max_bytes: limits.streamMaxBytes,
      max_msg_size: 8 * 1024,
      deny_delete: true,
      deny_purge: true,
      allow_direct: true,
    } as StreamConfig,
    kvStream(sessionsBucket(t), -1, limits.streamMaxBytes, MAX_MESSAGE_BYTES),
    kvStream(secretsBucket(t), limits.secretsMaxKeys, limits.streamMaxBytes, 64 * 1024),
  ];
}

/** The global secrets bucket's stream. */
export function globalStreams(limits: TenantLimits = DEFAULT_TENANT_LIMITS): StreamConfig[] {
  return [kvStream(GLOBAL_SECRETS_BUCKET, limits.secretsMaxKeys, limits.streamMaxBytes, 64 * 1024)];
}

/**
 * A KV bucket's stream, as @nats-io/kv would make it (history 1, direct get) but with rollup
 * headers refused: the host never needs one, and a `Nats-Rollup: all` would wipe the bucket.
 * Deletes remove the stored message (STREAM.MSG.DELETE), so no purge and no rollup is needed.
 */
export function kvStream(bucket: string, maxKeys: number, maxBytes: number, maxValue: number): StreamConfig {
  return {
    name: `KV_${bucket}`,
    subjects: [`$KV.${bucket}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: 1,
    max_msgs_per_subject: 1,
    max_msgs: maxKeys,
    max_bytes: maxBytes,
    max_msg_size: maxValue,
    discard: DiscardPolicy.New,
    allow_direct: true,
    allow_rollup_hdrs: false,
    deny_delete: false,
    deny_purge: false,
  } as StreamConfig;
}

export { NatsSetupError } from './options.js';

/**
 * Make sure each stream exists: look it up, create it if missing. A user that may not create
 * streams (a confined instance) gets a clear error naming the stream, so the operator knows to
 * run the set-up once with a user that may.
 */
export async function ensureStreams(jsm: JetStreamManager, configs: readonly StreamConfig[], who: string): Promise<number> {
  let created = 0;
  for (const config of configs) {
    try {
      await jsm.streams.info(config.name, {});
      continue;
    } catch (e) {
      if (!isNotFound(e)) throw new NatsSetupError(`cannot look up stream ${config.name} as ${who}: ${(e as Error).message}`);
    }
    try {
      await jsm.streams.add(config);
      created++;
    } catch (e) {
      if (/overlap/i.test((e as Error).message))
        throw new NatsSetupError(
          `stream ${config.name} cannot be created: its subjects overlap a stream already on the server (the shared ${config.name.replace(/_[^_]+$/, '')} of an earlier version?); ` +
            'run `greentic-host nats migrate --nats URL` once (see the README, "Migrating from shared streams")',
        );
      throw new NatsSetupError(
        `stream ${config.name} does not exist and ${who} cannot create it (${(e as Error).message}); ` +
          'start one instance once with a NATS user that may create streams (see the README, "Distributed mode")',
      );
    }
  }
  return created;
}

/** True for JetStream's "not found" answers (stream or consumer). */
export function isNotFound(e: unknown): boolean {
  return /not found/i.test(e instanceof Error ? e.message : String(e));
}
