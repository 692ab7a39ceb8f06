import { logImports } from './log/host.js';
import { messagingImports } from './messaging/host.js';
import type { InvocationScope } from './scope.js';
import { secretsImports } from './secrets/host.js';
import { stateImports } from './state/host.js';

/** The WIT package of the host capabilities and its version, as import keys spell them. */
export const HOST_PACKAGE = 'greentic:host';
export const HOST_VERSION = '0.1.0';

/** Capability interface -> its functions, in the camelCase jco uses. The worker builds its import stubs from this. */
export const CAPABILITY_FUNCTIONS = {
  secrets: ['get'],
  state: ['get', 'set', 'delete', 'listKeys'],
  messaging: ['send'],
  log: ['write'],
} as const satisfies Record<string, readonly string[]>;

export type CapabilityName = keyof typeof CAPABILITY_FUNCTIONS;

/** A capability function bound to one scope. */
export type BoundFunction = (ctx: unknown, ...args: unknown[]) => unknown;

/** Every capability's import slice, bound to `scope`. */
export function bindCapabilities(scope: InvocationScope): Record<CapabilityName, Record<string, BoundFunction>> {
  return {
    secrets: secretsImports(scope) as Record<string, BoundFunction>,
    state: stateImports(scope) as Record<string, BoundFunction>,
    messaging: messagingImports(scope) as Record<string, BoundFunction>,
    log: logImports(scope) as Record<string, BoundFunction>,
  };
}

/** True for a (capability, function) pair of the contract. */
export function isCapabilityFunction(cap: string, fn: string): cap is CapabilityName {
  return Object.hasOwn(CAPABILITY_FUNCTIONS, cap) && (CAPABILITY_FUNCTIONS[cap as CapabilityName] as readonly string[]).includes(fn);
}
