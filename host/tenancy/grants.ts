import type { ComponentManifest } from '../components/manifest.js';
import type { HttpPolicy } from '../capabilities/http-client/allow-list.js';
import type { Limits, TenantModel } from './model.js';

/**
 * What one component may do for one team of one tenant in one environment: the manifest's
 * request AND the tenant's grant, computed once when the tenant loads. At run time every
 * capability check is a lookup in here.
 */
export interface Permissions {
  readonly component: string;
  readonly state: 'none' | 'read' | 'write';
  readonly messaging: boolean;
  readonly log: boolean;
  /** Secrets looked up in the team's, then the tenant's namespace. */
  readonly secrets: ReadonlySet<string>;
  /** The subset of `secrets` that may also fall back to `global/`. */
  readonly globalSecrets: ReadonlySet<string>;
  /** WASI interfaces both requested and granted. */
  readonly wasi: ReadonlySet<string>;
  /** Where a Greentic component may send HTTP requests: its manifest asks (capabilities.host.http.client) and the tenant grants these origins. */
  readonly http?: HttpPolicy | undefined;
  /** Secrets it may write (greentic:secrets-store put): granted for writing and requested by its manifest. */
  readonly writableSecrets?: ReadonlySet<string>;
  /** Manifest limits capped by the environment's policy. */
  readonly limits: Limits;
}

/**
 * True when a tenant's WASI grant list covers `iface` ("wasi:cli/environment"): named exactly,
 * or by its package ("wasi:cli/*"), so a Greentic component's toolchain imports fit in one line.
 */
export function wasiGranted(granted: Iterable<string>, iface: string): boolean {
  const pkg = `${iface.slice(0, iface.indexOf('/'))}/*`;
  for (const g of granted) if (g === iface || g === pkg) return true;
  return false;
}

/** The WASI interfaces `tenant` grants `component` (none when it does not grant the component). */
export function grantedWasiOf(tenant: TenantModel, component: string): readonly string[] {
  return tenant.grants.components.get(component)?.wasi ?? [];
}

/** Why no flow of `tenant` may use a component, or null when the tenant grants it. */
export function tenantDenial(tenant: TenantModel, component: string): string | null {
  return tenant.grants.components.has(component) ? null : `component "${component}" is not granted to tenant "${tenant.id}" (grants.components)`;
}

/** Why a component cannot be used by a team, or null when it can. */
export function componentDenial(tenant: TenantModel, team: string, component: string): string | null {
  const denied = tenantDenial(tenant, component);
  if (denied) return denied;
  const teams = tenant.grants.components.get(component)?.teams;
  if (teams && !teams.has(team))
    return `component "${component}" is not granted to team "${team}" of tenant "${tenant.id}" (grants.components.${component}.teams)`;
  return null;
}

/**
 * Requests the tenant does not grant: outgoing HTTP, secrets and WASI interfaces the manifest
 * asks for that the tenant's grants leave out. A flow using such a component fails to load.
 */
export function ungrantedRequests(tenant: TenantModel, manifest: ComponentManifest, httpImplicit = false): string[] {
  const secretGrant = tenant.grants.secrets.get(manifest.name);
  const grantedSecrets = new Set([...(secretGrant?.names ?? []), ...(secretGrant?.global ?? [])]);
  const grantedWasi = grantedWasiOf(tenant, manifest.name);
  // Outgoing HTTP a manifest asks for must be granted origins; one it implies (a provider manifest) is refused per request instead.
  const http = manifest.capabilities.http && !httpImplicit && !(tenant.grants.components.get(manifest.name)?.http?.rules.length ?? 0);
  return [
    ...(http ? [`outgoing HTTP (grants.components.${manifest.name}.http: the origins it may reach)`] : []),
    ...manifest.capabilities.secrets.filter((s) => !grantedSecrets.has(s)).map((s) => `secret "${s}" (grants.secrets.${manifest.name}.names)`),
    ...manifest.capabilities.wasi.filter((w) => !wasiGranted(grantedWasi, w)).map((w) => `WASI interface "${w}" (grants.components.${manifest.name}.wasi)`),
  ];
}

/** The effective permissions of `manifest` for `tenant` in environment `env`. */
export function effectivePermissions(tenant: TenantModel, env: string, manifest: ComponentManifest): Permissions {
  const policy = tenant.envs.get(env)?.settings.limits ?? tenant.settings.limits;
  const secretGrant = tenant.grants.secrets.get(manifest.name);
  const granted = new Set([...(secretGrant?.names ?? []), ...(secretGrant?.global ?? [])]);
  const globalGranted = secretGrant?.global ?? new Set<string>();
  const secrets = new Set(manifest.capabilities.secrets.filter((s) => granted.has(s)));
  const grantedWasi = grantedWasiOf(tenant, manifest.name);
  return {
    component: manifest.name,
    state: manifest.capabilities.state,
    messaging: manifest.capabilities.messaging,
    log: manifest.capabilities.log,
    secrets,
    globalSecrets: new Set([...secrets].filter((s) => globalGranted.has(s))),
    wasi: new Set(manifest.capabilities.wasi.filter((w) => wasiGranted(grantedWasi, w))),
    http: manifest.capabilities.http ? tenant.grants.components.get(manifest.name)?.http : undefined,
    writableSecrets: new Set([...(secretGrant?.write ?? [])].filter((s) => secrets.has(s))),
    limits: {
      ...policy,
      deadlineMs: Math.min(manifest.limits.deadline_ms ?? policy.deadlineMs, policy.deadlineMs),
      memoryMib: Math.min(manifest.limits.memory_mib ?? policy.memoryMib, policy.memoryMib),
    },
  };
}
