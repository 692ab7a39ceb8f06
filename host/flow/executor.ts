import type { TurnSpan } from '../observability/tracing.js';
import { createHash } from 'node:crypto';
import { redact } from '../data/redaction.js';
import { expiryOf, transcriptLinesKept } from '../data/session-policy.js';
import { randomHex } from '../util/random-hex.js';
import type { OutgoingMessage, ScopeServices } from '../capabilities/scope.js';
import type { IngressMessage } from '../messaging/envelope.js';
import type { ChannelAddress } from '../messaging/subjects.js';
import type { HostMetrics } from '../observability/metrics.js';
import type { WorkerPool } from '../sandbox/pool.js';
import { sessionKey, type SessionKey } from '../stores/keys.js';
import { RevisionConflictError, type SessionRecord, type SessionStore } from '../stores/session-store.js';
import type { TenantRuntime } from './runtime.js';
import { KeyedLock } from './session-lock.js';
import { TurnPlans } from './turn-plan.js';

/** How many message ids a session remembers to recognise redeliveries. */
const RECENT_MESSAGES = 32;
/** The longest transcript line kept whole (how many lines: settings.sessions). */
const TRANSCRIPT_TEXT = 2000;

/** Attempts of a turn whose session another writer changed meanwhile. */
const CAS_ATTEMPTS = 20;

export interface TurnResult {
  readonly session: string;
  /** Everything the turn sends, in order; replies to the incoming channel included. */
  readonly outbox: readonly OutgoingMessage[];
  /**
   * The message was already handled (a redelivery): nothing ran. `outbox` is then what that
   * turn sent, if it was the session's latest, so a redelivery after a crash can publish it again.
   */
  readonly duplicate: boolean;
}

/** A turn that cannot run or failed; `code` is stable, the message says what and where. */
export class TurnError extends Error {
  override readonly name = 'TurnError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** The session a user has on a channel when the message names none: stable, one per (channel, user). */
export function defaultSessionId(channel: string, user: string): string {
  return `s${createHash('sha256').update(`${channel}\n${user}`).digest('hex').slice(0, 40)}`;
}

export interface ExecutorDeps {
  readonly sessions: SessionStore;
  readonly pool: WorkerPool;
  readonly services: ScopeServices;
  readonly metrics: HostMetrics;
}

/**
 * Runs one turn of a session: from the node the session waits at (or the flow's start),
 * through component calls and routing, until a node waits or the flow ends. The session's
 * cursor, state and outbox commit together at the end; a failed turn leaves the session as it was.
 */
export class FlowExecutor {
  readonly #locks = new KeyedLock();
  readonly #plans: TurnPlans;

  constructor(private readonly deps: ExecutorDeps) {
    this.#plans = new TurnPlans(deps.pool);
  }

  /** Run one turn; `span` (tracing on) is told the session, the flow and each node call. */
  async runTurn(runtime: TenantRuntime, address: ChannelAddress, msg: IngressMessage, span?: TurnSpan): Promise<TurnResult> {
    const tenant = runtime.model;
    const env = tenant.envs.get(address.env);
    const team = tenant.teams.get(address.team);
    if (!env || !team || !team.envs.has(address.env) || !team.channels.has(address.channel)) {
      throw new TurnError('unknown-channel', `no channel ${address.tenant}/${address.env}/${address.team}/${address.channel} in the configuration`, false);
    }
    const found = runtime.flowFor(address.team, address.channel);
    if (!found.ok) throw new TurnError('flow-unavailable', found.reason, false);
    const sessionId = msg.session ?? defaultSessionId(address.channel, msg.user);
    const key = sessionKey({ tenant: tenant.id, env: env.id, team: team.id }, sessionId, 'ingress message');
    const lockKey = `${key.tenant}/${key.env}/${key.team}/${key.session}`;
    return this.#locks.run(lockKey, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#turn(runtime, address, msg, key, span);
        } catch (e) {
          if (e instanceof RevisionConflictError && attempt < CAS_ATTEMPTS) {
            // Another instance won this round: back off a little (with jitter) and run the turn again.
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
            continue;
          }
          throw e;
        }
      }
    });
  }

  async #turn(runtime: TenantRuntime, address: ChannelAddress, msg: IngressMessage, key: SessionKey, span: TurnSpan | undefined): Promise<TurnResult> {
    const { sessions, pool, services, metrics } = this.deps;
    const policy = runtime.model.envs.get(key.env)!.settings.sessions;
    const found = await sessions.get(key);
    const now = Date.now();
    // An ended session is a new conversation; its revision stays the compare-and-set token, so the sweep cannot race the turn.
    const expired = found ? expiryOf(policy, found.record, now) : null;
    if (expired) metrics.sessionsExpired.inc({ tenant: key.tenant, env: key.env, team: key.team, reason: expired });
    const stored = expired ? null : found;
    const prev: SessionRecord = stored?.record ?? {
      v: 1,
      tenant: key.tenant,
      env: key.env,
      team: key.team,
      session: key.session,
      channel: address.channel,
      user: msg.user,
      cursor: null,
      state: {},
      created_at: now,
      updated_at: now,
      turns: 0,
      recent_messages: [],
    };
    if (prev.channel !== address.channel || prev.user !== msg.user) {
      throw new TurnError('session-mismatch', `session "${key.session}" belongs to another channel or user`, false);
    }
    if (prev.recent_messages.includes(msg.id)) {
      return { session: key.session, outbox: prev.last_turn?.id === msg.id ? prev.last_turn.outbox : [], duplicate: true };
    }

    const flow = runtime.flowFor(address.team, address.channel);
    if (!flow.ok) throw new TurnError('flow-unavailable', flow.reason, false);
    const f = flow.flow;
    const { plan, index } = this.#plans.get(runtime, key.env, key.team, address.channel, f);

    // Resume where the session waits, unless the flow changed under it.
    const resumable = prev.cursor && prev.cursor.waiting && prev.cursor.flow === f.name && f.nodes.has(prev.cursor.node);
    if (prev.cursor?.waiting && !resumable) {
      // A reload took away the node the session waited at (or the channel runs another flow now): it starts again, its state kept.
      const was = `${prev.cursor.flow}/${prev.cursor.node}`;
      services.logger.info(
        { event: 'flow-restarted', tenant_id: key.tenant, env_id: key.env, team_id: key.team, session_id: key.session, was, flow: f.name },
        'session restarted its flow',
      );
    }
    // The whole turn is one job for a worker: every node until the flow waits or ends.
    const outcome = await pool.runTurn({
      plan,
      session: key,
      userId: msg.user,
      traceId: msg.trace ?? randomHex(16),
      text: msg.text,
      start: index.get(resumable ? prev.cursor!.node : expired ? f.onExpired : f.start)!,
      resumed: Boolean(resumable),
      working: Object.entries(prev.state),
      services,
    });
    const nodes = plan.wire.nodes;
    if (span) {
      span.describe(key.session, f.name);
      span.nodes(
        outcome.steps.map((s) => ({ node: nodes[s.node]!.id, component: nodes[s.node]!.type, ms: s.ms })),
        outcome.ok ? undefined : outcome.error.code,
      );
    }
    for (const step of outcome.steps) {
      const labels = { tenant: key.tenant, env: key.env, team: key.team, component: nodes[step.node]!.type };
      metrics.nodeInvocations.inc(labels);
      if (Number.isFinite(step.ms)) metrics.nodeSeconds.observe(labels, step.ms / 1000);
    }
    if (!outcome.ok) {
      metrics.nodeErrors.inc({ tenant: key.tenant, env: key.env, team: key.team, component: nodes[outcome.node]!.type, code: outcome.error.code });
      throw outcome.error;
    }
    const cursor: SessionRecord['cursor'] = outcome.cursor < 0 ? null : { flow: f.name, node: nodes[outcome.cursor]!.id, waiting: true };
    const outbox = outcome.outbox;
    // What is stored of the conversation is redacted first (settings.sessions.redact); the replies sent are not.
    const scrub = (text: string) => (policy.redact.length > 0 ? redact(text, policy.redact) : text);
    const lines = transcriptLinesKept(policy);
    const { transcript: _old, ...kept } = prev;
    const record: SessionRecord = {
      ...kept,
      cursor,
      state: outcome.working ? Object.fromEntries(outcome.working) : prev.state,
      updated_at: Date.now(),
      turns: prev.turns + 1,
      recent_messages: [...prev.recent_messages, msg.id].slice(-RECENT_MESSAGES),
      last_turn: { id: msg.id, outbox: policy.redact.length > 0 ? outbox.map((o) => ({ ...o, text: scrub(o.text) })) : outbox },
      ...(lines === 0
        ? {}
        : {
            transcript: [
              ...(prev.transcript ?? []),
              { from: 'user' as const, text: scrub(msg.text.slice(0, TRANSCRIPT_TEXT)), at: now },
              ...outbox
                .filter((o) => o.channel === address.channel)
                .map((o) => ({ from: 'bot' as const, text: scrub(o.text.slice(0, TRANSCRIPT_TEXT)), at: now })),
            ].slice(-lines),
          }),
    };
    await sessions.put(key, record, found?.revision ?? 0);
    return { session: key.session, outbox, duplicate: false };
  }
}
