/**
 * greentic:state/state-store@1.0.0: `read`, `write`, `delete` of a `state-key` with an optional
 * ctx, on the session's working memory (the same memory, keys, permissions and limits as our
 * state capability: a key is an id of the one grammar, the manifest's capabilities.host.state
 * says read or write, settings.limits.max_state_* bound it). Values are UTF-8 text here, so
 * that a greentic:host component reading the same key sees the same value.
 *
 * Guest errors (host-error codes): access-denied (ctx differs; no permission), invalid-argument
 * (key not an id, value not UTF-8), not-found (read of a missing key), limit-exceeded.
 */
import { idArgument } from '../arguments.js';
import { CapabilityError } from '../errors.js';
import { enterGreentic, hostError } from '../greentic-ctx.js';
import type { InvocationScope } from '../scope.js';
import { workingMemory } from '../state/host.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const ACK = 'ok';

export function stateStoreImports(site: () => { scope: InvocationScope }) {
  const run = (fn: string, ctx: unknown, body: (scope: InvocationScope) => unknown): unknown => {
    const { scope } = site();
    try {
      enterGreentic(scope, 'state-store', fn, ctx);
      return body(scope);
    } catch (e) {
      if (e instanceof CapabilityError) return { tag: 'err', val: hostError(e) };
      throw e;
    }
  };
  const key = (scope: InvocationScope, fn: string, k: unknown) => idArgument(scope, 'state-store', fn, 'state key', k);
  return {
    read: (k: unknown, ctx: unknown) =>
      run('read', ctx, (scope) => {
        const name = key(scope, 'read', k);
        const v = workingMemory(scope, 'state-store').get('read', name);
        if (v === undefined) throw scope.error('not-found', 'state-store', 'read', `no state "${name}" in this session`);
        return new TextEncoder().encode(v);
      }),
    write: (k: unknown, bytes: unknown, ctx: unknown) =>
      run('write', ctx, (scope) => {
        const name = key(scope, 'write', k);
        let text: string;
        try {
          text = utf8.decode(bytes as Uint8Array);
        } catch {
          throw scope.error('invalid-argument', 'state-store', 'write', `the value of "${name}" is not UTF-8 text`);
        }
        workingMemory(scope, 'state-store').set('write', name, text);
        return ACK;
      }),
    delete: (k: unknown, ctx: unknown) =>
      run('delete', ctx, (scope) => {
        workingMemory(scope, 'state-store').delete('delete', key(scope, 'delete', k));
        return ACK;
      }),
  };
}
