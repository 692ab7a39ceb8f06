import { createHash } from 'node:crypto';
import type { NodeInvocation } from '../components/node-world.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import type { GreenticTenantCtx, InvocationEnvelope } from './contract.js';
import { GreenticNodeError } from './output.js';

/** What the host knows about a call besides the bound ctx; sent with every call to the worker. */
export interface GreenticCallInfo {
  readonly flow: string;
  /** The component's type name in the flow (component-id). */
  readonly component: string;
  /** The call's deadline, milliseconds since the Unix epoch. */
  readonly deadlineAt: number;
}

/** The language of human-facing text a component produces; flows carry none yet. */
export const DEFAULT_I18N_ID = 'en';
/** Attempts count from 0, as in greentic-types; a turn that runs again is a new turn, not an attempt. */
export const FIRST_ATTEMPT = 0;

/**
 * Greentic's tenant-ctx, filled from the ctx the host bound to this call (never from the guest):
 * the session is the correlation id, the call's deadline is absolute, and the idempotency key
 * names this step of this turn, so a component can recognise a call it has seen.
 */
export function greenticCtx(ctx: TenantCtx, call: GreenticCallInfo, step: string): GreenticTenantCtx {
  const key = createHash('sha256')
    .update([ctx.tenantId, ctx.envId, ctx.teamId ?? '', ctx.sessionId, ctx.traceId, call.flow, step].join('\n'))
    .digest('hex')
    .slice(0, 32);
  return {
    tenantId: ctx.tenantId,
    teamId: ctx.teamId,
    userId: ctx.userId,
    envId: ctx.envId,
    traceId: ctx.traceId,
    correlationId: ctx.sessionId,
    deadlineMs: BigInt(Math.floor(call.deadlineAt)),
    attempt: FIRST_ATTEMPT,
    idempotencyKey: key,
    i18nId: DEFAULT_I18N_ID,
  };
}

/** The invocation-envelope of one call of step `step`. */
export function invocationEnvelope(ctx: TenantCtx, call: GreenticCallInfo, step: string, payloadCbor: Uint8Array): InvocationEnvelope {
  return {
    ctx: greenticCtx(ctx, call, step),
    flowId: call.flow,
    stepId: step,
    componentId: call.component,
    attempt: FIRST_ATTEMPT,
    payloadCbor,
    metadataCbor: undefined,
  };
}

/** The payload a flow node sends (before CBOR): the user's message, the node's config, and whether the flow waited here. */
export interface NodePayload {
  readonly message: { readonly text: string; readonly user: string; readonly channel: string };
  readonly config: Record<string, unknown>;
  readonly resumed: boolean;
}

/**
 * Split a flow node's input into the op its config picks (`config.op`, absent: the component's
 * default) and the payload: the config without `op`.
 */
export function nodePayload(input: NodeInvocation): { op: string | undefined; payload: NodePayload } {
  const parsed: unknown = JSON.parse(input.config);
  const config = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? { ...(parsed as Record<string, unknown>) } : {};
  if (config.op !== undefined && (typeof config.op !== 'string' || config.op === '')) {
    throw new GreenticNodeError('invalid-config', `node "${input.nodeId}": config.op must be the name of an op, got ${JSON.stringify(config.op)}`);
  }
  const op = config.op as string | undefined;
  delete config.op;
  return {
    op,
    payload: { message: { text: input.message.text, user: input.message.userId, channel: input.message.channel }, config, resumed: input.resumed },
  };
}
