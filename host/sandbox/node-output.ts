import type { InvocationScope } from '../capabilities/scope.js';
import type { NodeOutput } from '../components/node-world.js';
import { NodeError } from './errors.js';

const TAGS = new Set(['proceed', 'route', 'wait', 'end']);

/**
 * Check a guest's raw node output: its shape, then its replies against the call's and the
 * turn's output budgets, counted (before anything is walked) and in bytes. Runs in the worker,
 * so a guest returning hundreds of thousands of replies costs its own call, not the main thread.
 */
export function checkNodeOutput(raw: unknown, scope: InvocationScope): NodeOutput {
  const where = `component "${scope.permissions.component}" at node "${scope.node}"`;
  const bad = (why: string) => new NodeError('invalid-output', `${where} returned ${why}`, false);
  const over = (what: string) => new NodeError('limit-exceeded', `${where} produced more than ${what}`, false);
  if (typeof raw !== 'object' || raw === null) throw bad('no node-output record');
  const { replies, next } = raw as { replies?: unknown; next?: unknown };
  if (!Array.isArray(replies)) throw bad('replies that are not a list of strings');
  const l = scope.permissions.limits;
  const tally = scope.tally;
  if (scope.messages + replies.length > l.maxMessages) throw over(`${l.maxMessages} messages`);
  if (tally.messages + replies.length > l.maxTurnMessages) throw over(`${l.maxTurnMessages} messages in one turn`);
  let bytes = 0;
  for (const r of replies as unknown[]) {
    if (typeof r !== 'string') throw bad('replies that are not a list of strings');
    bytes += Buffer.byteLength(r);
  }
  if (typeof next !== 'object' || next === null || !TAGS.has((next as { tag?: string }).tag ?? '')) throw bad('an unknown next step');
  if ((next as { tag: string }).tag === 'route' && typeof (next as { val?: unknown }).val !== 'string') throw bad('a route without a label');
  if (scope.outputBytes + bytes > l.maxOutputBytes) throw over(`${l.maxOutputBytes} bytes of output`);
  if (tally.outputBytes + bytes > l.maxTurnOutputBytes) throw over(`${l.maxTurnOutputBytes} bytes of output in one turn`);
  scope.chargeOutput('node', 'invoke', bytes, replies.length);
  return { replies: replies as string[], next: next as NodeOutput['next'] };
}
