import { checkId } from '../tenancy/ids.js';
import type { TenantScope } from '../tenancy/tenant-ctx.js';

/**
 * Every key and path the stores use is built here, from ids checked against the one grammar,
 * so no store can be handed a key that escapes its tenant.
 */

/** Addresses one session: sessions/{tenant}/{env}/{team}/{session}. */
export interface SessionKey {
  readonly tenant: string;
  readonly env: string;
  readonly team: string;
  readonly session: string;
}

/** Build a SessionKey, checking every part. */
export function sessionKey(scope: TenantScope, session: string, where = 'session key'): SessionKey {
  return {
    tenant: checkId('tenant', scope.tenant, where),
    env: checkId('env', scope.env, where),
    team: scope.team === undefined ? 'default' : checkId('team', scope.team, where),
    session: checkId('session', session, where),
  };
}

/** Relative path segments of a session file: ["sessions", tenant, env, team, "<session>.cbor"]. */
export function sessionPathSegments(key: SessionKey): string[] {
  return ['sessions', key.tenant, key.env, key.team, `${key.session}.cbor`];
}

/** The logical key of a session's working memory: state:{tenant}:{env}:{team|default}:{session}. */
export function stateKey(key: SessionKey): string {
  return `state:${key.tenant}:${key.env}:${key.team}:${key.session}`;
}

/** The same key as NATS KV tokens (NATS keys allow no ":"): state.{tenant}.{env}.{team|default}.{session}. */
export function stateKeyKv(key: SessionKey): string {
  return stateKey(key).replaceAll(':', '.');
}

/** A secret namespace: global/, {tenant}/ or {tenant}/teams/{team}/. */
export type SecretNamespace =
  | { readonly kind: 'global' }
  | { readonly kind: 'tenant'; readonly tenant: string }
  | { readonly kind: 'team'; readonly tenant: string; readonly team: string };

/** The namespace's path prefix, ending in "/". */
export function namespacePrefix(ns: SecretNamespace): string {
  switch (ns.kind) {
    case 'global':
      return 'global/';
    case 'tenant':
      return `${checkId('tenant', ns.tenant, 'secret namespace')}/`;
    case 'team':
      return `${checkId('tenant', ns.tenant, 'secret namespace')}/teams/${checkId('team', ns.team, 'secret namespace')}/`;
  }
}

/** Namespaces a lookup walks for a scope, most specific first: team, tenant, then (if allowed) global. */
export function lookupOrder(scope: TenantScope, includeGlobal: boolean): SecretNamespace[] {
  const order: SecretNamespace[] = [];
  if (scope.team !== undefined) order.push({ kind: 'team', tenant: scope.tenant, team: scope.team });
  order.push({ kind: 'tenant', tenant: scope.tenant });
  if (includeGlobal) order.push({ kind: 'global' });
  return order;
}
