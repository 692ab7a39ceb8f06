import { idArgument, stringArgument } from '../arguments.js';
import type { InvocationScope } from '../scope.js';

/**
 * The `state` import slice: the session's working memory, addressed by the scope's state key
 * (state:{tenant}:{env}:{team|default}:{session}). Reads and writes go to the turn's working
 * copy, which the executor commits with the session when the turn ends (or drops on failure).
 *
 * The working memory is bounded in keys (limits.max_state_keys) and in bytes of keys and values
 * together (limits.max_state_bytes), so what a turn hands back to the main thread is bounded too.
 *
 * Guest errors: access-denied (ctx differs from the bound scope; manifest or grant lacks
 * state read/write), invalid-argument (key not an id, value not a string), limit-exceeded
 * (value too large, too many keys or bytes, too many capability calls).
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
      const limits = scope.permissions.limits;
      const size = Buffer.byteLength(v);
      if (size > limits.maxStateValueBytes)
        throw scope.error('limit-exceeded', 'state', 'set', `value of "${k}" is ${size} bytes; the limit is ${limits.maxStateValueBytes}`);
      const old = working.get(k);
      if (old === undefined && working.size >= limits.maxStateKeys)
        throw scope.error('limit-exceeded', 'state', 'set', `a session holds at most ${limits.maxStateKeys} keys`);
      const tally = scope.tally;
      tally.stateBytes ??= stateBytes(working);
      const after = tally.stateBytes + size - (old === undefined ? -k.length : Buffer.byteLength(old));
      if (after > limits.maxStateBytes)
        throw scope.error('limit-exceeded', 'state', 'set', `a session's state holds at most ${limits.maxStateBytes} bytes (keys and values)`);
      tally.stateBytes = after;
      working.set(k, v);
    },
    delete(ctx: unknown, key: unknown): boolean {
      scope.enter('state', 'delete', ctx);
      can('delete', 'write');
      const k = idArgument(scope, 'state', 'delete', 'state key', key);
      const old = working.get(k);
      if (old === undefined) return false;
      const tally = scope.tally;
      if (tally.stateBytes !== undefined) tally.stateBytes -= k.length + Buffer.byteLength(old);
      return working.delete(k);
    },
    listKeys(ctx: unknown): string[] {
      scope.enter('state', 'list-keys', ctx);
      can('list-keys', 'read');
      return [...working.keys()].sort();
    },
  };
}

/** Bytes of a working memory's keys (ids: one byte a character) and values. */
function stateBytes(working: ReadonlyMap<string, string>): number {
  let n = 0;
  for (const [k, v] of working) n += k.length + Buffer.byteLength(v);
  return n;
}
