import type { DenialEvent } from '../observability/metrics.js';
import type { SessionKey } from '../stores/keys.js';
import { stateKey } from '../stores/keys.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { Permissions } from '../tenancy/grants.js';
import { ctxMismatch, formatScope, type TenantCtx, type TenantScope } from '../tenancy/tenant-ctx.js';
import { CapabilityError, type CapErrorTag } from './errors.js';

/** A message a component queued with `messaging.send`; published only when the turn commits. */
export interface OutgoingMessage {
  readonly channel: string;
  readonly text: string;
}

/**
 * What one turn of a session accumulates across its node calls: the working copy of the
 * session's state and the outbox. The executor commits both, or neither, when the turn ends.
 */
export interface TurnState {
  readonly working: Map<string, string>;
  readonly outbox: OutgoingMessage[];
}

/** The logging a scope does: pino's interface, or a recorder in a worker that ships lines back. */
type LogFn = (fields: Record<string, unknown>, message: string) => void;
export interface ScopeLogger {
  child(fields: Record<string, unknown>): ScopeLogger;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** Where access denials are counted. */
export interface DenialRecorder {
  recordDenial(event: DenialEvent): void;
}

/** Host services a scope reaches; created per host, never module-level. */
export interface ScopeServices {
  readonly secrets: SecretStore;
  readonly logger: ScopeLogger;
  readonly metrics: DenialRecorder;
}

export interface InvocationScopeInit {
  /** The ctx built by the host from trusted inputs (subject, session); the guest gets a copy. */
  readonly ctx: TenantCtx;
  readonly session: SessionKey;
  /** The channel the turn's message came in on. */
  readonly channel: string;
  /** Channels of the bound team in the bound environment: where `messaging.send` may go. */
  readonly teamChannels: ReadonlySet<string>;
  readonly permissions: Permissions;
  readonly flow: string;
  readonly node: string;
  readonly turn: TurnState;
  readonly services: ScopeServices;
}

/**
 * Everything one guest call may touch, bound by the host before the call. Every capability
 * function starts with `enter`, which compares the guest's ctx to the bound one and counts the
 * call against the limit; any difference is access-denied, logged with both scopes.
 */
export class InvocationScope {
  readonly ctx: TenantCtx;
  readonly session: SessionKey;
  readonly stateKey: string;
  readonly channel: string;
  readonly teamChannels: ReadonlySet<string>;
  readonly permissions: Permissions;
  readonly flow: string;
  readonly node: string;
  readonly turn: TurnState;
  readonly services: ScopeServices;
  capabilityCalls = 0;
  outputBytes = 0;

  constructor(init: InvocationScopeInit) {
    this.ctx = Object.freeze({ ...init.ctx });
    this.session = init.session;
    this.stateKey = stateKey(init.session);
    this.channel = init.channel;
    this.teamChannels = init.teamChannels;
    this.permissions = init.permissions;
    this.flow = init.flow;
    this.node = init.node;
    this.turn = init.turn;
    this.services = init.services;
  }

  #logger: ScopeLogger | undefined;

  /** The scope's logger: every line carries tenant, env, team, session, trace, flow, node and component. Made on first use (most calls never log). */
  get logger(): ScopeLogger {
    this.#logger ??= this.services.logger.child({
      tenant_id: this.ctx.tenantId,
      env_id: this.ctx.envId,
      team_id: this.ctx.teamId,
      session_id: this.ctx.sessionId,
      trace_id: this.ctx.traceId,
      flow: this.flow,
      node: this.node,
      component: this.permissions.component,
    });
    return this.#logger;
  }

  get tenantScope(): TenantScope {
    return { tenant: this.ctx.tenantId, env: this.ctx.envId, team: this.ctx.teamId };
  }

  /** Check a capability call's ctx and budget; throws CapabilityError (access-denied, limit-exceeded). */
  enter(capability: string, fn: string, given: unknown): void {
    const mismatch = ctxMismatch(this.ctx, given);
    if (mismatch) this.deny(capability, fn, mismatch, given);
    if (++this.capabilityCalls > this.permissions.limits.maxCapabilityCalls) {
      throw this.error('limit-exceeded', capability, fn, `more than ${this.permissions.limits.maxCapabilityCalls} capability calls in one component call`);
    }
  }

  /** Refuse with access-denied: counted, and logged with the bound scope and what was asked. */
  deny(capability: string, fn: string, reason: string, given?: unknown): never {
    const g = (typeof given === 'object' && given !== null ? given : {}) as Partial<TenantCtx>;
    this.services.metrics.recordDenial({
      capability,
      fn,
      tenant: this.ctx.tenantId,
      env: this.ctx.envId,
      team: this.ctx.teamId,
      reason,
    });
    this.logger.warn(
      {
        event: 'access-denied',
        capability: `${capability}.${fn}`,
        bound_scope: formatScope(this.tenantScope),
        requested_scope: given === undefined ? undefined : `${String(g.tenantId)}/${String(g.envId)}/${String(g.teamId ?? '-')}`,
        reason,
      },
      'capability call denied',
    );
    throw this.error('access-denied', capability, fn, reason);
  }

  /** A guest-visible capability error naming this scope's tenant. */
  error(tag: CapErrorTag, capability: string, fn: string, detail: string): CapabilityError {
    return new CapabilityError(tag, capability, fn, this.ctx.tenantId, detail);
  }

  /** Count bytes a component emits (replies, sent messages) against its output budget. */
  chargeOutput(capability: string, fn: string, bytes: number): void {
    this.outputBytes += bytes;
    if (this.outputBytes > this.permissions.limits.maxOutputBytes) {
      throw this.error('limit-exceeded', capability, fn, `output exceeds ${this.permissions.limits.maxOutputBytes} bytes in one component call`);
    }
  }
}
