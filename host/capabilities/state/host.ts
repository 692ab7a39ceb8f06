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
  const memory = workingMemory(scope, 'state');
  return {
    get(ctx: unknown, key: unknown): string | undefined {
      scope.enter('state', 'get', ctx);
      return memory.get('get', idArgument(scope, 'state', 'get', 'state key', key));
    },
    set(ctx: unknown, key: unknown, value: unknown): void {
      scope.enter('state', 'set', ctx);
      memory.set('set', idArgument(scope, 'state', 'set', 'state key', key), stringArgument(scope, 'state', 'set', 'value', value));
    },
    delete(ctx: unknown, key: unknown): boolean {
      scope.enter('state', 'delete', ctx);
      return memory.delete('delete', idArgument(scope, 'state', 'delete', 'state key', key));
    },
    listKeys(ctx: unknown): string[] {
      scope.enter('state', 'list-keys', ctx);
      return memory.keys('list-keys');
    },
  };
}

/**
 * The working memory of the scope's session, with the component's permission (manifest state
 * read/write) and the limits checked on every access; `capability` names it in refusals.
 * Keys are checked ids. Shared with greentic:state/state-store, and (`hostOwned`) with the state
 * blob the host keeps for a component-v0-v6 node.
 */
export function workingMemory(scope: InvocationScope, capability: string, hostOwned = false) {
  const can = (fn: string, need: 'read' | 'write') => {
    // State the host keeps for the component's ABI (a run() state blob) needs no permission; its limits hold.
    if (hostOwned) return;
    const has = scope.permissions.state;
    if (has === 'write' || (need === 'read' && has === 'read')) return;
    scope.deny(capability, fn, `component "${scope.permissions.component}" may not ${need} state (manifest capabilities.state is "${has}")`);
  };
  const working = scope.turn.working;
  return {
    get(fn: string, k: string): string | undefined {
      can(fn, 'read');
      return working.get(k);
    },
    set(fn: string, k: string, v: string): void {
      can(fn, 'write');
      const limits = scope.permissions.limits;
      const size = Buffer.byteLength(v);
      if (size > limits.maxStateValueBytes)
        throw scope.error('limit-exceeded', capability, fn, `value of "${k}" is ${size} bytes; the limit is ${limits.maxStateValueBytes}`);
      const old = working.get(k);
      if (old === undefined && working.size >= limits.maxStateKeys)
        throw scope.error('limit-exceeded', capability, fn, `a session holds at most ${limits.maxStateKeys} keys`);
      const tally = scope.tally;
      tally.stateBytes ??= stateBytes(working);
      const after = tally.stateBytes + size - (old === undefined ? -k.length : Buffer.byteLength(old));
      if (after > limits.maxStateBytes)
        throw scope.error('limit-exceeded', capability, fn, `a session's state holds at most ${limits.maxStateBytes} bytes (keys and values)`);
      tally.stateBytes = after;
      working.set(k, v);
    },
    delete(fn: string, k: string): boolean {
      can(fn, 'write');
      const old = working.get(k);
      if (old === undefined) return false;
      const tally = scope.tally;
      if (tally.stateBytes !== undefined) tally.stateBytes -= k.length + Buffer.byteLength(old);
      return working.delete(k);
    },
    keys(fn: string): string[] {
      can(fn, 'read');
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
