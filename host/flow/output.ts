import type { InvocationScope } from '../capabilities/scope.js';
import { NodeError } from '../sandbox/errors.js';
import type { NodeOutput } from '../sandbox/protocol.js';

const TAGS = new Set(['proceed', 'route', 'wait', 'end']);

/** Check a guest's raw node output: shape, and reply bytes against the call's output budget. */
export function checkNodeOutput(raw: unknown, scope: InvocationScope): NodeOutput {
  const bad = (why: string) => new NodeError('invalid-output', `component "${scope.permissions.component}" at node "${scope.node}" returned ${why}`, false);
  if (typeof raw !== 'object' || raw === null) throw bad('no node-output record');
  const { replies, next } = raw as { replies?: unknown; next?: unknown };
  if (!Array.isArray(replies) || replies.some((r) => typeof r !== 'string')) throw bad('replies that are not a list of strings');
  if (typeof next !== 'object' || next === null || !TAGS.has((next as { tag?: string }).tag ?? '')) throw bad('an unknown next step');
  let bytes = 0;
  for (const r of replies as string[]) bytes += Buffer.byteLength(r);
  try {
    scope.chargeOutput('node', 'invoke', bytes);
  } catch {
    throw new NodeError(
      'limit-exceeded',
      `component "${scope.permissions.component}" at node "${scope.node}" produced more than ${scope.permissions.limits.maxOutputBytes} bytes of output`,
      false,
    );
  }
  return { replies: replies as string[], next: next as NodeOutput['next'] };
}
