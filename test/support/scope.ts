import { InvocationScope, type TurnState } from '../../dist/capabilities/scope.js';
import { HostMetrics } from '../../dist/observability/metrics.js';
import { sessionKey } from '../../dist/stores/keys.js';
import type { SecretStore } from '../../dist/stores/secret-store.js';
import type { Permissions } from '../../dist/tenancy/grants.js';
import { DEFAULT_LIMITS } from '../../dist/tenancy/model.js';
import type { TenantCtx } from '../../dist/tenancy/tenant-ctx.js';
import { memoryLogger } from './logs.js';

export const ACME_CTX: TenantCtx = { tenantId: 'acme', envId: 'prod', teamId: 'support', sessionId: 's1', userId: 'u1', traceId: '0'.repeat(32) };

/** Permissions that grant everything a test names. */
export function permissions(over: Partial<Permissions> = {}): Permissions {
  return {
    component: 'probe',
    state: 'write',
    messaging: true,
    log: true,
    secrets: new Set(),
    globalSecrets: new Set(),
    wasi: new Set(),
    limits: DEFAULT_LIMITS,
    ...over,
  };
}

/** An in-memory secret store. */
export function memorySecrets(entries: Record<string, string> = {}): SecretStore {
  const m = new Map(Object.entries(entries));
  const addr = (ns: { kind: string; tenant?: string; team?: string }, name: string) =>
    ns.kind === 'global' ? `global/${name}` : ns.kind === 'tenant' ? `${ns.tenant}/${name}` : `${ns.tenant}/teams/${ns.team}/${name}`;
  return {
    async get(ns, name) {
      return m.get(addr(ns, name)) ?? null;
    },
    async set(ns, name, value) {
      m.set(addr(ns, name), value);
    },
    async delete(ns, name) {
      return m.delete(addr(ns, name));
    },
    async list() {
      return [...m.keys()];
    },
  };
}

/** A scope bound to acme/prod/support/s1, as the host would build it. */
export function testScope(
  opts: { perms?: Partial<Permissions>; secrets?: SecretStore; state?: Record<string, string>; channels?: string[]; ctx?: Partial<TenantCtx> } = {},
) {
  const ctx = { ...ACME_CTX, ...opts.ctx };
  const logs = memoryLogger();
  const metrics = new HostMetrics();
  const turn: TurnState = { working: new Map(Object.entries(opts.state ?? {})), outbox: [] };
  const scope = new InvocationScope({
    ctx,
    session: sessionKey({ tenant: ctx.tenantId, env: ctx.envId, team: ctx.teamId }, ctx.sessionId),
    channel: 'slack',
    teamChannels: new Set(opts.channels ?? ['slack', 'telegram']),
    permissions: permissions(opts.perms),
    flow: 'f',
    node: 'n',
    turn,
    services: { secrets: opts.secrets ?? memorySecrets(), logger: logs.logger, metrics },
  });
  return { scope, turn, logs, stats: metrics };
}
