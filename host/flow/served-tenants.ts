import type { ComponentCatalog } from '../components/catalog.js';
import type { ComponentRegistry } from '../components/registry.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerPool } from '../sandbox/pool.js';
import type { ConfigProblem } from '../tenancy/config/problems.js';
import type { Workspace } from '../tenancy/model.js';
import { describeInPool, type Describer } from './describe.js';
import { loadTenantRuntimeSafely, type TenantRuntime } from './runtime.js';

export interface ServedTenantsOptions {
  readonly workspace: Workspace;
  readonly catalog: ComponentCatalog;
  readonly registry: ComponentRegistry;
  /** Where a Greentic component's describe() runs when it loads. */
  readonly pool: WorkerPool;
  readonly logger: Logger;
  /** Tenants this instance answers for (the deployment model), and those it leaves to others. */
  readonly tenants?: 'all' | readonly string[];
  readonly excludeTenants?: readonly string[];
  readonly onProgress?: (line: string) => void;
}

/**
 * Load every tenant this instance serves into `runtimes`, adding what is wrong to `problems`.
 * A Greentic component is described in the sandbox as it loads; the log says what loaded and
 * how its WASI is served.
 */
export async function loadServedTenants(opts: ServedTenantsOptions, runtimes: Map<string, TenantRuntime>, problems: ConfigProblem[]): Promise<void> {
  const { workspace, catalog, registry, pool, logger } = opts;
  const served = opts.tenants ?? 'all';
  const excluded = new Set(opts.excludeTenants ?? []);
  const describe: Describer = (component, scope, permissions) => describeInPool(pool, component, scope, permissions, logger);
  for (const tenant of workspace.tenants.values()) {
    if ((served !== 'all' && !served.includes(tenant.id)) || excluded.has(tenant.id)) continue;
    const loaded = await loadTenantRuntimeSafely(
      tenant,
      catalog,
      registry,
      (entry, component, ms, details) => {
        opts.onProgress?.(`component ${entry.name} for ${tenant.id}: ${component.transpiled ? 'transpiled' : 'from cache'} in ${ms.toFixed(0)} ms`);
        if (component.world !== 'greentic-component-node' && details.wasiMapped.length === 0) return;
        const fields = { event: 'component-loaded', tenant_id: tenant.id, component: entry.name, world: component.world, ops: details.ops };
        logger.info({ ...fields, wasi_mapped: details.wasiMapped, notes: entry.greentic?.notes }, 'component loaded');
      },
      describe,
    );
    problems.push(...loaded.problems);
    if (loaded.runtime) runtimes.set(tenant.id, loaded.runtime);
  }
}
