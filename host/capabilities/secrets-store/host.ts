/**
 * greentic:secrets-store/secrets-store@1.0.0 (`get(key) -> result<option<list<u8>>, secrets-error>`)
 * and @1.1.0 (adds `put(key, value)`). There is no ctx: every call is the bound scope's. A key
 * is a secret name of our grammar, or Greentic's upper-case form of one (SLACK_BOT_TOKEN is the
 * secret slack_bot_token); the names the component may read are its manifest's secret
 * requirements the tenant grants (grants.secrets.<component>), looked up team, then tenant, then
 * global when granted. `put` writes only names the tenant grants for writing
 * (grants.secrets.<component>.write), into the team's namespace (the tenant's for a call without
 * a team). Values are text (UTF-8) here.
 *
 * Guest errors: `denied` (not granted), `invalid-key`, `internal` (the store failed, or a limit);
 * a missing secret is `none`. `put` has no result in the WIT: a refused put ends the call.
 */
import { CallAbort, CapabilityError } from '../errors.js';
import type { InvocationScope } from '../scope.js';
import { readSecret } from '../secrets/host.js';
import { isValidId } from '../../tenancy/ids.js';

/** Greentic's upper-case secret keys ("SLACK_BOT_TOKEN") and ours. */
const UPPER = /^[A-Z0-9][A-Z0-9_]{0,62}$/;

/** The secret name a Greentic key stands for, or undefined when it is neither grammar. */
export function secretNameOf(key: unknown): string | undefined {
  if (typeof key !== 'string') return undefined;
  if (UPPER.test(key)) return key.toLowerCase();
  return isValidId(key) ? key : undefined;
}

type SecretsError = 'not-found' | 'denied' | 'invalid-key' | 'internal';
const ERROR_OF: Record<string, SecretsError> = { 'access-denied': 'denied', 'invalid-argument': 'invalid-key', 'not-found': 'not-found' };

/** A refused put ends the call with the cap-error tag of the Greentic error. */
const CAP_ERROR_OF = { denied: 'access-denied', 'invalid-key': 'invalid-argument', 'not-found': 'not-found', internal: 'unavailable' } as const;

/** What crosses the bridge back to the worker. */
export type SecretReply = { ok: string | null } | { err: SecretsError; message: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The worker-side functions: count, cross, turn the reply into the WIT result. */
export function secretsStoreImports(site: () => { scope: InvocationScope; cross(cap: string, fn: string, args: unknown[]): unknown }, version: string) {
  const get = (key: string): unknown => {
    const s = site();
    try {
      s.scope.enter('secrets-store', 'get', s.scope.ctx);
    } catch (e) {
      if (e instanceof CapabilityError) return { tag: 'err', val: 'internal' };
      throw e;
    }
    const reply = s.cross('secrets-store', 'get', [null, key]) as SecretReply;
    if ('err' in reply) return { tag: 'err', val: reply.err };
    return reply.ok === null ? undefined : new TextEncoder().encode(reply.ok);
  };
  if (version.startsWith('1.0.')) return { get };
  const put = (key: string, value: Uint8Array): void => {
    const s = site();
    s.scope.enter('secrets-store', 'put', s.scope.ctx);
    let text: string;
    try {
      text = utf8.decode(value);
    } catch {
      throw new CallAbort('invalid-argument', `secrets-store.put: the value of "${String(key).slice(0, 64)}" is not UTF-8 text`);
    }
    const reply = s.cross('secrets-store', 'put', [null, key, text]) as SecretReply;
    // The broker's message already names secrets-store.put; the abort carries our cap-error tag for Greentic's error.
    if ('err' in reply) throw new CallAbort(CAP_ERROR_OF[reply.err], reply.message);
  };
  return { get, put };
}

/** The main thread's functions, run by the bridge against the node's main-thread scope. */
export function secretsStoreBroker(scope: InvocationScope) {
  const run = async (fn: string, key: unknown, body: (name: string) => Promise<string | null>): Promise<SecretReply> => {
    try {
      scope.enter('secrets-store', fn, scope.ctx);
      const name = secretNameOf(key);
      if (name === undefined) {
        throw scope.error(
          'invalid-argument',
          'secrets-store',
          fn,
          `key ${JSON.stringify(String(key).slice(0, 64))} is not a secret name (${'^[a-z0-9][a-z0-9_-]{0,62}$'}, or the same in upper case with _)`,
        );
      }
      return { ok: await body(name) };
    } catch (e) {
      if (e instanceof CapabilityError) return { err: ERROR_OF[e.tag] ?? 'internal', message: e.payload.val };
      throw e;
    }
  };
  return {
    get: (_ctx: unknown, key: unknown) => run('get', key, (name) => readSecret(scope, 'secrets-store', 'get', name)),
    put: (_ctx: unknown, key: unknown, value: unknown) =>
      run('put', key, async (name) => {
        const p = scope.permissions;
        if (!p.writableSecrets?.has(name)) {
          scope.deny(
            'secrets-store',
            'put',
            `secret "${name}" is not granted for writing to component "${p.component}" of tenant "${scope.ctx.tenantId}" (grants.secrets.${p.component}.write)`,
          );
        }
        if (typeof value !== 'string' || Buffer.byteLength(value) > p.limits.maxStateValueBytes) {
          throw scope.error('limit-exceeded', 'secrets-store', 'put', `a secret value is at most ${p.limits.maxStateValueBytes} bytes`);
        }
        const t = scope.tenantScope;
        const ns = t.team === undefined ? { kind: 'tenant' as const, tenant: t.tenant } : { kind: 'team' as const, tenant: t.tenant, team: t.team };
        try {
          await scope.services.secrets.set(ns, name, value);
        } catch (e) {
          scope.logger.error({ event: 'secret-store-error', secret: name, err: (e as Error).message }, 'secret store failed');
          scope.auditSecret('secret.set', name, 'failed');
          throw scope.error('unavailable', 'secrets-store', 'put', `secret "${name}" cannot be written right now`);
        }
        scope.logger.info({ event: 'secret-written', secret: name }, 'component wrote a secret');
        scope.auditSecret('secret.set', name, 'ok');
        return null;
      }),
  };
}
