import { checkId, quoteForMessage } from './ids.js';

/** Where in the hierarchy a piece of work belongs: the part every key, path and subject is built from. */
export interface TenantScope {
  readonly tenant: string;
  readonly env: string;
  readonly team?: string | undefined;
}

/**
 * The WIT `tenant-ctx` record as jco presents it to JS. The host builds it from a bound
 * scope; a guest only ever holds a copy and must hand it back unchanged.
 */
export interface TenantCtx {
  tenantId: string;
  envId: string;
  teamId?: string | undefined;
  sessionId: string;
  userId: string;
  traceId: string;
}

/** Build a TenantScope from untrusted parts, checking every id against the grammar. */
export function tenantScope(tenant: unknown, env: unknown, team: unknown, where: string): TenantScope {
  return {
    tenant: checkId('tenant', tenant, where),
    env: checkId('env', env, where),
    team: team === undefined || team === null ? undefined : checkId('team', team, where),
  };
}

/** "acme/prod/support" for logs and messages. */
export function formatScope(scope: TenantScope): string {
  return `${scope.tenant}/${scope.env}/${scope.team ?? '-'}`;
}

/** A fresh copy of `ctx`, the only form in which a ctx is handed to a guest. */
export function copyCtx(ctx: TenantCtx): TenantCtx {
  return {
    tenantId: ctx.tenantId,
    envId: ctx.envId,
    teamId: ctx.teamId,
    sessionId: ctx.sessionId,
    userId: ctx.userId,
    traceId: ctx.traceId,
  };
}

const CTX_FIELDS: ReadonlyArray<[keyof TenantCtx, string]> = [
  ['tenantId', 'tenant'],
  ['envId', 'env'],
  ['teamId', 'team'],
  ['sessionId', 'session'],
  ['userId', 'user'],
  ['traceId', 'trace'],
];

/**
 * Compare a ctx a guest passed against the ctx its call is bound to. Returns null when
 * they are identical, else a sentence naming the first field that differs and both values.
 */
export function ctxMismatch(bound: TenantCtx, given: unknown): string | null {
  if (typeof given !== 'object' || given === null) return 'the ctx passed is not a tenant-ctx record';
  const g = given as Record<string, unknown>;
  for (const [field, label] of CTX_FIELDS) {
    const want = bound[field];
    const got = g[field] ?? undefined;
    if (got !== want) {
      return `ctx names ${label} ${quoteForMessage(got ?? '(none)')} but this call is bound to ${label} ${quoteForMessage(want ?? '(none)')}`;
    }
  }
  return null;
}
