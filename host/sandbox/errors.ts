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
