/**
 * The records of our node world (`wit/node.wit`, greentic:host/node@0.1.0) as the host handles
 * them. A leaf module: the sandbox, the flow executor and the Greentic adapter all speak these
 * types, and none of them needs another's code to do so.
 */

/** The node call's input as the WIT `invocation` record. */
export interface NodeInvocation {
  nodeId: string;
  message: { text: string; userId: string; channel: string };
  config: string;
  resumed: boolean;
}

/** The WIT `next-step` variant. */
export type NextStep = { tag: 'proceed' } | { tag: 'route'; val: string } | { tag: 'wait' } | { tag: 'end' };

/** The WIT `node-output` record. */
export interface NodeOutput {
  replies: string[];
  next: NextStep;
}
