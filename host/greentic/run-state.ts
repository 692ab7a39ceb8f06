/**
 * The state blob of a component-v0-v6 node (`run(input, state) -> { output, new-state }`), kept
 * in the session's working memory under a key of its own per flow node (`run-state-` and 32 hex
 * digits of the flow and node ids' sha256), base64, within the state limits. The host writes it
 * for the component's ABI, so it needs no state permission; it commits or rolls back with the turn.
 */
import { createHash } from 'node:crypto';
import type { InvocationScope } from '../capabilities/scope.js';
import { workingMemory } from '../capabilities/state/host.js';
import type { RunState } from './abi.js';

/** The working-memory key of the node's state blob. */
export function runStateKey(flow: string, node: string): string {
  return `run-state-${createHash('sha256').update(`${flow}\n${node}`).digest('hex').slice(0, 32)}`;
}

/** The RunState of node `node` of `flow` in `scope`'s session. */
export function runStateOf(scope: InvocationScope, flow: string, node: string): RunState {
  const key = runStateKey(flow, node);
  const memory = workingMemory(scope, 'run-state', true);
  return {
    read: () => {
      const v = memory.get('read', key);
      return v === undefined ? new Uint8Array() : new Uint8Array(Buffer.from(v, 'base64'));
    },
    write: (bytes) => {
      if (bytes.byteLength === 0) memory.delete('delete', key);
      else memory.set('write', key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'));
    },
  };
}
