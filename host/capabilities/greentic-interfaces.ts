/**
 * Greentic's host interfaces, as this host serves them to Greentic components: which interface
 * and versions, the jco import slice of each (built in the worker over the running call), and
 * the functions that cross to the main thread (http-client, secrets-store), run there by the
 * bridge. Import keys are the unversioned names jco's glue looks up; a component's version of
 * each comes from its binary (the 'load' message), since http-client's and secrets-store's
 * functions differ between versions.
 */
import { controlImports } from './control/host.js';
import type { HttpClientService } from './http-client/client.js';
import { httpClientBroker, httpClientImports } from './http-client/host.js';
import { oauthBrokerImports } from './oauth-broker/host.js';
import type { InvocationScope } from './scope.js';
import { secretsStoreBroker, secretsStoreImports } from './secrets-store/host.js';
import { stateStoreImports } from './state-store/host.js';
import { telemetryImports } from './telemetry/host.js';

/** Interface -> the versions served. */
export const GREENTIC_HOST_INTERFACES: ReadonlyMap<string, readonly string[]> = new Map([
  ['greentic:http/http-client', ['1.0.0', '1.1.0']],
  ['greentic:secrets-store/secrets-store', ['1.0.0', '1.1.0']],
  ['greentic:state/state-store', ['1.0.0']],
  ['greentic:telemetry/logger-api', ['1.0.0']],
  ['greentic:oauth-broker/broker-v1', ['1.0.0']],
  ['greentic:component/control', ['0.5.0', '0.6.0']],
]);

/** Interfaces imported for their types only (records such as tenant-ctx): nothing to serve. */
export const GREENTIC_TYPE_INTERFACES: ReadonlySet<string> = new Set([
  'greentic:interfaces-types/types',
  'greentic:types-core/core',
  'greentic:common-types/types',
]);

/** The Greentic host interfaces among a component's imports, with their versions. */
export function greenticHostImports(versionedImports: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name of versionedImports) {
    const at = name.lastIndexOf('@');
    if (at < 0) continue;
    const iface = name.slice(0, at);
    if (GREENTIC_HOST_INTERFACES.has(iface)) out.push([iface, name.slice(at + 1)]);
  }
  return out;
}

/** Why this host cannot serve `iface` at `version` (a Greentic host interface), or null. */
export function greenticInterfaceRefusal(iface: string, version: string | undefined): string | null {
  const served = GREENTIC_HOST_INTERFACES.get(iface);
  if (!served) return null;
  if (version !== undefined && served.includes(version)) return null;
  return `imports ${iface}@${version ?? '(unversioned)'}, a version this host does not serve (it serves ${served.map((v) => `@${v}`).join(', ')})`;
}

/** What a Greentic interface call of the running node call may use (the worker's side). */
export interface GreenticCallSite {
  readonly scope: InvocationScope;
  /** The node call's deadline, milliseconds since the epoch. */
  readonly deadlineAt: number;
  /** HTTP requests this call has made. */
  requests: number;
  /** A synchronous round trip to the main thread (the bridge). */
  cross(cap: string, fn: string, args: unknown[]): unknown;
}

/** The jco import object slices for the Greentic interfaces a component imports, each call served for `site()` (the running call). */
export function greenticJcoImports(hostImports: ReadonlyMap<string, string>, site: () => GreenticCallSite): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [iface, version] of hostImports) {
    let slice: unknown;
    if (iface === 'greentic:http/http-client') slice = httpClientImports(site, version);
    else if (iface === 'greentic:secrets-store/secrets-store') slice = secretsStoreImports(site, version);
    else if (iface === 'greentic:state/state-store') slice = stateStoreImports(site);
    else if (iface === 'greentic:telemetry/logger-api') slice = telemetryImports(site);
    else if (iface === 'greentic:oauth-broker/broker-v1') slice = oauthBrokerImports(site);
    else if (iface === 'greentic:component/control') slice = controlImports(site);
    else continue;
    out[iface] = slice;
    out[`${iface}@${version}`] = slice;
  }
  return out;
}

/** The functions that cross the bridge, by the capability name the worker sends. */
const BRIDGED: Readonly<Record<string, readonly string[]>> = { 'http-client': ['send'], 'secrets-store': ['get', 'put'] };

/** True for a (capability, function) of a Greentic interface that the main thread serves. */
export function isBridgedGreenticFunction(cap: string, fn: string): boolean {
  return Object.hasOwn(BRIDGED, cap) && BRIDGED[cap]!.includes(fn);
}

/** The main thread's functions of the bridged interfaces, bound to `scope`. */
export function bindGreenticBridged(
  scope: InvocationScope,
  http: HttpClientService | undefined,
): Record<string, Record<string, (...args: unknown[]) => unknown>> {
  return {
    'http-client': httpClientBroker(scope, http) as Record<string, (...args: unknown[]) => unknown>,
    'secrets-store': secretsStoreBroker(scope) as Record<string, (...args: unknown[]) => unknown>,
  };
}
