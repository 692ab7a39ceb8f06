/**
 * The records of our node world (`wit/node.wit`, greentic:host/node@0.1.0) as the host handles
 * them. A leaf module: the sandbox, the flow executor and the Greentic adapter all speak these
 * types, and none of them needs another's code to do so.
 */
import type { RichMessage } from '../greentic/rich-message.js';

/** The node call's input as the WIT `invocation` record. */
export interface NodeInvocation {
  nodeId: string;
  message: { text: string; userId: string; channel: string };
  config: string;
  resumed: boolean;
}

/** The WIT `next-step` variant. */
export type NextStep = { tag: 'proceed' } | { tag: 'route'; val: string } | { tag: 'wait' } | { tag: 'end' };

/** The WIT `node-output` record; `rich`, when a Greentic output has cards or buttons, holds each reply's structured message (null: text only). */
export interface NodeOutput {
  replies: string[];
  next: NextStep;
  rich?: Array<RichMessage | null>;
}
