/**
 * The ctx check of Greentic's host interfaces. They take `ctx: option<tenant-ctx>` of
 * greentic:interfaces-types (env, tenant, tenant-id, team, team-id, user, user-id, session-id,
 * ... ): none means the bound scope; a ctx given must name the bound tenant (both `tenant` and
 * `tenant-id`) and env, and any team, user or session it names must be the bound one, and it may
 * not ask for impersonation. Any difference is access-denied, counted and logged as for our own
 * capabilities (InvocationScope.deny); the call then runs in the bound scope, never the guest's.
 */
import { quoteForMessage } from '../tenancy/ids.js';
import { CapabilityError } from './errors.js';
import type { InvocationScope } from './scope.js';

/** Check a Greentic interface call's ctx and count it; throws CapabilityError (access-denied, limit-exceeded). */
export function enterGreentic(scope: InvocationScope, capability: string, fn: string, given: unknown): void {
  if (given !== undefined && given !== null) {
    const why = greenticCtxMismatch(scope, given);
    if (why) {
      const g = (typeof given === 'object' ? given : {}) as Record<string, unknown>;
      scope.deny(capability, fn, why, { tenantId: g.tenantId ?? g.tenant, envId: g.env, teamId: g.teamId ?? g.team });
    }
  }
  scope.enter(capability, fn, scope.ctx);
}

/** Why `given` is not the bound scope, or null. */
export function greenticCtxMismatch(scope: InvocationScope, given: unknown): string | null {
  if (typeof given !== 'object' || given === null) return 'the ctx passed is not a tenant-ctx record';
  const g = given as Record<string, unknown>;
  const b = scope.ctx;
  const required: Array<[string, unknown, string]> = [
    ['tenant', g.tenant, b.tenantId],
    ['tenant-id', g.tenantId, b.tenantId],
    ['env', g.env, b.envId],
  ];
  for (const [label, got, want] of required) if (got !== want) return mismatch(label, got, want);
  const optional: Array<[string, unknown, string | undefined]> = [
    ['team', g.team, b.teamId],
    ['team-id', g.teamId, b.teamId],
    ['user', g.user, b.userId],
    ['user-id', g.userId, b.userId],
    ['session-id', g.sessionId, b.sessionId],
  ];
  for (const [label, got, want] of optional) if (got !== undefined && got !== null && got !== want) return mismatch(label, got, want);
  if (g.impersonation !== undefined && g.impersonation !== null) return 'ctx asks for impersonation, which this host never grants';
  return null;
}

function mismatch(label: string, got: unknown, want: string | undefined): string {
  return `ctx names ${label} ${quoteForMessage(got ?? '(none)')} but this call is bound to ${label} ${quoteForMessage(want ?? '(none)')}`;
}

/** A Greentic interface's host-error for a refusal ({ code, message }). */
export function hostError(e: CapabilityError): { code: string; message: string } {
  return { code: e.tag, message: e.payload.val };
}

/** Run `fn`, turning a capability refusal into `{ tag: 'err', val: onError(e) }` (a WIT result error); anything else propagates. */
export function asResult<T, E>(fn: () => T, onError: (e: CapabilityError) => E): T | { tag: 'err'; val: E } {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CapabilityError) return { tag: 'err', val: onError(e) };
    throw e;
  }
}
