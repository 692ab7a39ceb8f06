import { lookupOrder } from '../../stores/keys.js';
import { idArgument } from '../arguments.js';
import type { InvocationScope } from '../scope.js';

/**
 * The `secrets` import slice. A name resolves in the bound team's namespace, then the
 * tenant's, then `global/` only when the tenant grants that name from global.
 *
 * Guest errors: access-denied (ctx differs; name not both requested by the manifest and
 * granted by the tenant), invalid-argument (name not an id), not-found (no such secret in any
 * namespace the call may read), unavailable (the store failed; details go to the host log only).
 */
export function secretsImports(scope: InvocationScope) {
  return {
    async get(ctx: unknown, name: unknown): Promise<string> {
      scope.enter('secrets', 'get', ctx);
      const n = idArgument(scope, 'secrets', 'get', 'secret', name);
      const value = await readSecret(scope, 'secrets', 'get', n);
      if (value === null) throw scope.error('not-found', 'secrets', 'get', `no secret "${n}" for ${scope.ctx.tenantId}/${scope.ctx.teamId ?? '-'}`);
      return value;
    },
  };
}

/**
 * Read secret `n` (a checked id) for the scope's component: access-denied unless granted, then
 * the team's, the tenant's and (when granted from there) the global namespace; null when none
 * holds it; unavailable when the store fails. Every read is told to the audit trail (name and
 * component, never the value). Shared with greentic:secrets-store.
 */
export async function readSecret(scope: InvocationScope, capability: string, fn: string, n: string): Promise<string | null> {
  const perms = scope.permissions;
  if (!perms.secrets.has(n)) {
    scope.deny(capability, fn, `secret "${n}" is not granted to component "${perms.component}" of tenant "${scope.ctx.tenantId}"`);
  }
  for (const ns of lookupOrder(scope.tenantScope, perms.globalSecrets.has(n))) {
    let value: string | null;
    try {
      value = await scope.services.secrets.get(ns, n);
    } catch (e) {
      scope.logger.error({ event: 'secret-store-error', secret: n, err: (e as Error).message }, 'secret store failed');
      scope.auditSecret('secret.read', n, 'failed');
      throw scope.error('unavailable', capability, fn, `secret "${n}" cannot be read right now`);
    }
    if (value !== null) {
      scope.auditSecret('secret.read', n, 'ok');
      return value;
    }
  }
  scope.auditSecret('secret.read', n, 'not-found');
  return null;
}
