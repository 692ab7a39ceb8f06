import type { AuditSink } from '../audit/host-events.js';
import type { RichMessage } from '../greentic/rich-message.js';
import type { DenialEvent } from '../observability/metrics.js';
import type { HttpClientService } from './http-client/client.js';
import type { SessionKey } from '../stores/keys.js';
import { stateKey } from '../stores/keys.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { Permissions } from '../tenancy/grants.js';
import { ctxMismatch, formatScope, type TenantCtx, type TenantScope } from '../tenancy/tenant-ctx.js';
import { CallAbort, CapabilityError, type CapErrorTag } from './errors.js';

/** A message a component queued with `messaging.send`; published only when the turn commits. */
export interface OutgoingMessage {
  readonly channel: string;
  readonly text: string;
  /** The reply's structured form (cards, buttons), when a Greentic component made one; `text` is its fallback. */
  readonly rich?: RichMessage;
}

/**
 * What one turn of a session accumulates across its node calls: the working copy of the
 * session's state and the outbox. The executor commits both, or neither, when the turn ends.
 * `tally` counts what the turn's calls produced, against the per-turn limits (made on first use).
 */
export interface TurnState {
  readonly working: Map<string, string>;
  readonly outbox: OutgoingMessage[];
  tally?: TurnTally;
}

/** Items and bytes one turn has produced so far, across its node calls. */
export interface TurnTally {
  messages: number;
  outputBytes: number;
  logLines: number;
  logBytes: number;
  /** Bytes of the working memory's keys and values; computed when state is first written. */
  stateBytes: number | undefined;
}

/** A call that goes on making capability calls past ABORT_FACTOR times its limit is ended (CallAbort). */
export const ABORT_FACTOR = 10;

/** Denials of one call logged in full; the rest are counted (metrics) and summed up in one line. */
export const MAX_DENIAL_LOGS_PER_CALL = 10;
/** Longest guest-supplied field (a requested ctx's ids) put in a log line. */
export const MAX_LOGGED_FIELD = 64;

/** A guest-supplied value as a log field: strings cut at MAX_LOGGED_FIELD, anything else named by its type. */
export function loggedField(v: unknown): string {
  if (typeof v === 'string') return v.length > MAX_LOGGED_FIELD ? `${v.slice(0, MAX_LOGGED_FIELD)}...` : v;
  return v === undefined || v === null ? '-' : `(${typeof v})`;
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
  /** Outgoing HTTP for Greentic components (greentic:http/http-client); absent: every request is refused. */
  readonly http?: HttpClientService;
  /** Where secret reads and writes are recorded (the host's audit trail); absent: not recorded. */
  readonly audit?: AuditSink;
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
  /** Replies and sent messages of this call. */
  messages = 0;
  logLines = 0;
  logBytes = 0;
  #denials = 0;
  #logCut = false;

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
    const max = this.permissions.limits.maxCapabilityCalls;
    if (++this.capabilityCalls > max) {
      // Refusing costs the host a little each time: a guest that calls on regardless ends its call.
      if (this.capabilityCalls > ABORT_FACTOR * max) {
        throw new CallAbort(
          'limit-exceeded',
          `component "${this.permissions.component}" went on calling capabilities after its limit of ${max} calls in one component call`,
        );
      }
      throw this.error('limit-exceeded', capability, fn, `more than ${max} capability calls in one component call`);
    }
  }

  /**
   * Refuse with access-denied: counted, and logged with the bound scope and what was asked (the
   * guest's fields cut short). A call's first MAX_DENIAL_LOGS_PER_CALL denials are logged in full,
   * then one line says the rest are counted only: a guest looping on denied calls cannot flood the log.
   */
  deny(capability: string, fn: string, reason: string, given?: unknown): never {
    this.services.metrics.recordDenial({
      capability,
      fn,
      tenant: this.ctx.tenantId,
      env: this.ctx.envId,
      team: this.ctx.teamId,
      reason,
      component: this.permissions.component,
    });
    const n = ++this.#denials;
    if (n <= MAX_DENIAL_LOGS_PER_CALL) {
      const g = (typeof given === 'object' && given !== null ? given : {}) as Record<string, unknown>;
      this.logger.warn(
        {
          event: 'access-denied',
          capability: `${capability}.${fn}`,
          bound_scope: formatScope(this.tenantScope),
          requested_scope: given === undefined ? undefined : `${loggedField(g.tenantId)}/${loggedField(g.envId)}/${loggedField(g.teamId)}`,
          reason,
        },
        'capability call denied',
      );
    } else if (n === MAX_DENIAL_LOGS_PER_CALL + 1) {
      this.logger.warn(
        { event: 'access-denied-suppressed', capability: `${capability}.${fn}`, bound_scope: formatScope(this.tenantScope) },
        `more than ${MAX_DENIAL_LOGS_PER_CALL} capability calls denied in one component call; further denials are counted, not logged`,
      );
    }
    throw this.error('access-denied', capability, fn, reason);
  }

  /** Tell the audit trail what this call did to secret `name` (never its value). */
  auditSecret(action: 'secret.read' | 'secret.set', name: string, outcome: 'ok' | 'not-found' | 'failed'): void {
    this.services.audit?.record({
      tenant: this.ctx.tenantId,
      env: this.ctx.envId,
      team: this.ctx.teamId,
      actor: `component:${this.permissions.component}`,
      action,
      target: `secret:${name}`,
      outcome,
      detail: `flow ${this.flow}, node ${this.node}`,
    });
  }

  /** The turn's tally, made on first use. */
  get tally(): TurnTally {
    return (this.turn.tally ??= { messages: 0, outputBytes: 0, logLines: 0, logBytes: 0, stateBytes: undefined });
  }

  /**
   * A line of the guest's (log.write, stdout, stderr) for the log, counted against the call's
   * and the turn's line and byte budgets. When a budget is spent the line is dropped (the first
   * time with one line saying so) and the spent budget is returned.
   */
  guestLog(level: 'trace' | 'debug' | 'info' | 'warn' | 'error', fields: Record<string, unknown>, text: string): string | undefined {
    const l = this.permissions.limits;
    const t = this.tally;
    const bytes = text.length;
    const over =
      this.logLines + 1 > l.maxLogLines
        ? `${l.maxLogLines} lines in one component call`
        : this.logBytes + bytes > l.maxLogBytes
          ? `${l.maxLogBytes} bytes in one component call`
          : t.logLines + 1 > l.maxTurnLogLines
            ? `${l.maxTurnLogLines} lines in one turn`
            : t.logBytes + bytes > l.maxTurnLogBytes
              ? `${l.maxTurnLogBytes} bytes in one turn`
              : undefined;
    if (over !== undefined) {
      if (!this.#logCut) this.logger.warn({ event: 'guest-log-cut' }, `guest log cut at ${over}; further lines are dropped`);
      this.#logCut = true;
      return over;
    }
    this.logLines++;
    this.logBytes += bytes;
    t.logLines++;
    t.logBytes += bytes;
    this.logger[level](fields, text);
    return undefined;
  }

  /** A guest-visible capability error naming this scope's tenant (without a stack trace: the guest sees the payload only, and refusals should cost little). */
  error(tag: CapErrorTag, capability: string, fn: string, detail: string): CapabilityError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new CapabilityError(tag, capability, fn, this.ctx.tenantId, detail);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  /**
   * Count `count` messages of `bytes` bytes a component emits (replies, sent messages) against
   * its output budgets: items and bytes, per call and per turn. Throws limit-exceeded.
   */
  chargeOutput(capability: string, fn: string, bytes: number, count = 1): void {
    const l = this.permissions.limits;
    const t = this.tally;
    // What is refused is not counted: the budgets hold what was actually emitted.
    const over =
      this.messages + count > l.maxMessages
        ? `more than ${l.maxMessages} messages in one component call`
        : this.outputBytes + bytes > l.maxOutputBytes
          ? `output exceeds ${l.maxOutputBytes} bytes in one component call`
          : t.messages + count > l.maxTurnMessages
            ? `more than ${l.maxTurnMessages} messages in one turn`
            : t.outputBytes + bytes > l.maxTurnOutputBytes
              ? `output exceeds ${l.maxTurnOutputBytes} bytes in one turn`
              : undefined;
    if (over !== undefined) throw this.error('limit-exceeded', capability, fn, over);
    this.messages += count;
    this.outputBytes += bytes;
    t.messages += count;
    t.outputBytes += bytes;
  }
}
