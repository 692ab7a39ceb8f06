import type { ComponentCatalog } from '../components/catalog.js';
import type { ComponentRegistry } from '../components/registry.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerPool } from '../sandbox/pool.js';
import type { ConfigProblem } from '../tenancy/config/problems.js';
import type { TenantModel } from '../tenancy/model.js';
import type { ComponentFiles } from './component-files.js';
import { describeInPool, type Describer } from './describe.js';
import { loadTenantRuntimeSafely, type TenantRuntime } from './runtime.js';

/** Which tenants an instance answers for: the deployment model (all, a list, all but some). */
export interface DeploymentModel {
  readonly tenants?: 'all' | readonly string[];
  readonly excludeTenants?: readonly string[];
}

/** True when an instance with deployment model `m` serves `tenant`. */
export function servesTenant(m: DeploymentModel, tenant: string): boolean {
  const served = m.tenants ?? 'all';
  return (served === 'all' || served.includes(tenant)) && !(m.excludeTenants ?? []).includes(tenant);
}

/** What loading a served tenant needs: where components are compiled and described, the log, and progress lines. */
export interface TenantLoadContext {
  readonly registry: ComponentRegistry;
  /** Where a Greentic component's describe() runs when it loads, and where components are made ready. */
  readonly pool: WorkerPool;
  readonly logger: Logger;
  /** Component files already loaded, so a reload reads only what changed. */
  readonly files?: ComponentFiles;
  readonly onProgress?: (line: string) => void;
}

/**
 * Load one tenant this instance serves: its flows and components (a Greentic component is
 * described in the sandbox as it loads; the log says what loaded and how its WASI is served),
 * then get the workers ready for every component its flows use, so its first turn does not
 * pay for it. Problems are returned, never thrown.
 */
export async function loadServedTenant(
  tenant: TenantModel,
  catalog: ComponentCatalog,
  ctx: TenantLoadContext,
  preload = true,
): Promise<{ runtime: TenantRuntime | undefined; problems: ConfigProblem[] }> {
  const { registry, pool, logger } = ctx;
  const describe: Describer = (component, scope, permissions) => describeInPool(pool, component, scope, permissions, logger);
  const loaded = await loadTenantRuntimeSafely(
    tenant,
    catalog,
    registry,
    (entry, component, ms, details) => {
      ctx.onProgress?.(`component ${entry.name} for ${tenant.id}: ${component.transpiled ? 'transpiled' : 'from cache'} in ${ms.toFixed(0)} ms`);
      if (component.world !== 'greentic-component-node' && details.wasiMapped.length === 0) return;
      const fields = { event: 'component-loaded', tenant_id: tenant.id, component: entry.name, world: component.world, ops: details.ops };
      logger.info({ ...fields, wasi_mapped: details.wasiMapped, notes: entry.greentic?.notes }, 'component loaded');
    },
    describe,
    ctx.files,
  );
  if (loaded.runtime && preload) await preloadComponents(pool, loaded.runtime);
  return loaded;
}

/** Get the workers ready for every component (with its WASI grants) the tenant's flows use. */
export async function preloadComponents(pool: WorkerPool, runtime: TenantRuntime): Promise<void> {
  const ready: Array<Promise<void>> = [];
  for (const env of runtime.model.envs.keys()) {
    for (const flow of runtime.flows.values()) {
      for (const node of flow.nodes.values()) {
        const c = runtime.componentFor(env, node.type);
        if (c) ready.push(pool.preload(c, [...runtime.permissions(env, node.component).wasi], runtime.model.id));
      }
    }
  }
  await Promise.all(ready);
}
