import { idArgument, stringArgument } from '../arguments.js';
import type { InvocationScope } from '../scope.js';

/** Most keys one session's working memory holds. */
export const MAX_STATE_KEYS = 256;

/**
 * The `state` import slice: the session's working memory, addressed by the scope's state key
 * (state:{tenant}:{env}:{team|default}:{session}). Reads and writes go to the turn's working
 * copy, which the executor commits with the session when the turn ends (or drops on failure).
 *
 * Guest errors: access-denied (ctx differs from the bound scope; manifest or grant lacks
 * state read/write), invalid-argument (key not an id, value not a string), limit-exceeded
 * (value too large, too many keys, too many capability calls).
 */
export function stateImports(scope: InvocationScope) {
  const can = (fn: string, need: 'read' | 'write') => {
    const has = scope.permissions.state;
    if (has === 'write' || (need === 'read' && has === 'read')) return;
    scope.deny('state', fn, `component "${scope.permissions.component}" may not ${need} state (manifest capabilities.state is "${has}")`);
  };
  const working = scope.turn.working;
  return {
    get(ctx: unknown, key: unknown): string | undefined {
      scope.enter('state', 'get', ctx);
      can('get', 'read');
      return working.get(idArgument(scope, 'state', 'get', 'state key', key));
    },
    set(ctx: unknown, key: unknown, value: unknown): void {
      scope.enter('state', 'set', ctx);
      can('set', 'write');
      const k = idArgument(scope, 'state', 'set', 'state key', key);
      const v = stringArgument(scope, 'state', 'set', 'value', value);
      const limit = scope.permissions.limits.maxStateValueBytes;
      const size = Buffer.byteLength(v);
      if (size > limit) throw scope.error('limit-exceeded', 'state', 'set', `value of "${k}" is ${size} bytes; the limit is ${limit}`);
      if (!working.has(k) && working.size >= MAX_STATE_KEYS)
        throw scope.error('limit-exceeded', 'state', 'set', `a session holds at most ${MAX_STATE_KEYS} keys`);
      working.set(k, v);
    },
    delete(ctx: unknown, key: unknown): boolean {
      scope.enter('state', 'delete', ctx);
      can('delete', 'write');
      return working.delete(idArgument(scope, 'state', 'delete', 'state key', key));
    },
    listKeys(ctx: unknown): string[] {
      scope.enter('state', 'list-keys', ctx);
      can('list-keys', 'read');
      return [...working.keys()].sort();
    },
  };
}
