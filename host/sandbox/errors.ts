import type { GuestFailure } from './protocol.js';

/** How a node call failed, as the executor and the user see it. */
export type NodeErrorCode =
  | 'deadline-exceeded'
  | 'trap'
  | 'out-of-memory'
  | 'worker-crashed'
  | 'instantiate-failed'
  | 'invalid-output'
  | 'limit-exceeded'
  | 'load-failed'
  | 'unavailable'
  | 'guest-exit'
  | (string & {});

/**
 * A node call that produced no output: the guest's own node-error (its code kept), or a
 * failure the host detected (deadline, trap, crash). `retryable` says whether the same call
 * may succeed later.
 */
export class NodeError extends Error {
  override readonly name = 'NodeError';
  constructor(
    readonly code: NodeErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly fromGuest = false,
  ) {
    super(message);
  }
}

/** The NodeError for a failure the worker reported while running `component` (capped at `memoryMib`). */
export function failureError(f: GuestFailure, component: string, memoryMib: number): NodeError {
  switch (f.kind) {
    case 'node-error':
      // The guest's own words: cut short, since they reach logs and the egress error message.
      return new NodeError(clip(f.code, MAX_GUEST_CODE), clip(f.message, MAX_GUEST_MESSAGE), f.retryable, true);
    case 'host':
      return new NodeError(f.code, f.message, f.retryable);
    case 'instantiate':
      return new NodeError('instantiate-failed', `cannot instantiate component: ${f.message}`, false);
    case 'limit':
      return new NodeError('limit-exceeded', f.message, false);
    case 'exit':
      return new NodeError('guest-exit', `component "${component}" called exit (${f.status}); the call ends here`, false);
    case 'trap':
      if (f.outOfMemory) return new NodeError('out-of-memory', `component "${component}" ran out of memory (limit ${memoryMib} MiB): ${f.message}`, false);
      return new NodeError('trap', `component "${component}" trapped: ${f.message}${trapHint(f.message)}`, false);
  }
}

/** Longest node-error code and message of a guest's kept; the rest is cut off with a marker. */
export const MAX_GUEST_CODE = 64;
export const MAX_GUEST_MESSAGE = 1024;

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}... [cut at ${max} characters]` : s;
}

/** What an opaque trap usually means, for the person reading the error. */
function trapHint(message: string): string {
  if (message.includes('unreachable')) return ' (a Rust panic, an uncaught exception in a JS component, or an engine limit such as recursion depth)';
  if (message.includes('call stack')) return ' (unbounded recursion)';
  return '';
}
