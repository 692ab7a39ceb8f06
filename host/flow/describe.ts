import { randomHex } from '../util/random-hex.js';
import { InvocationScope } from '../capabilities/scope.js';
import type { CompiledComponent } from '../components/registry.js';
import type { ComponentDescriptor } from '../greentic/contract.js';
import type { Logger } from '../observability/logger.js';
import { HostMetrics } from '../observability/metrics.js';
import type { WorkerPool } from '../sandbox/pool.js';
import { sessionKey } from '../stores/keys.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { Permissions } from '../tenancy/grants.js';
import type { TenantScope } from '../tenancy/tenant-ctx.js';

/** What describing a Greentic component found: its descriptor (its own, or derived from its exports), and whether it lists its ops itself. */
export interface Described {
  readonly descriptor: ComponentDescriptor;
  readonly derived: boolean;
  readonly opsListed: boolean;
  readonly abi: string;
}

/** Runs a Greentic component's describe() for a tenant in one environment (at load, or for the CLI). */
export type Describer = (component: CompiledComponent, scope: TenantScope, permissions: Permissions) => Promise<Described>;

/** describe() calls no capability; a store is needed for the scope's shape only, and it holds nothing. */
const NO_SECRETS: SecretStore = {
  get: async () => null,
  set: async () => {
    throw new Error('describe() does not write secrets');
  },
  delete: async () => false,
  list: async () => [],
};

/**
 * Call describe() in `pool`, in the sandbox a flow node of `scope` would get, with a deadline
 * and a scope of its own (session "describe"): stderr lines land in the log with the tenant's fields.
 */
export function describeInPool(
  pool: WorkerPool,
  component: CompiledComponent,
  scope: TenantScope,
  permissions: Permissions,
  logger: Logger,
): Promise<Described> {
  const session = sessionKey(scope, 'describe', 'describe');
  const invocation = new InvocationScope({
    ctx: { tenantId: scope.tenant, envId: scope.env, teamId: scope.team, sessionId: session.session, userId: 'host', traceId: randomHex(16) },
    session,
    channel: 'describe',
    teamChannels: new Set(),
    permissions,
    flow: 'describe',
    node: 'describe',
    turn: { working: new Map(), outbox: [] },
    services: { secrets: NO_SECRETS, logger, metrics: new HostMetrics() },
  });
  return pool.invoke({
    component,
    scope: invocation,
    kind: 'describe',
    input: { nodeId: 'describe', message: { text: '', userId: 'host', channel: 'describe' }, config: '{}', resumed: false },
  }) as Promise<Described>;
}
