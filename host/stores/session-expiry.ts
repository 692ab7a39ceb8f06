import { expiryOf, type SessionPolicy } from '../data/session-policy.js';
import type { Logger } from '../observability/logger.js';
import { BackgroundTask } from './background-task.js';
import { sessionKey, type SessionKey } from './keys.js';
import type { SessionStore } from './session-store.js';
import { StoreHealth, type StoreMetricsSink } from './store-health.js';

/** One tenant environment the sweep walks: its teams and its settings.sessions. */
export interface ExpiryScope {
  readonly tenant: string;
  readonly env: string;
  readonly teams: Iterable<string>;
  readonly policy: SessionPolicy;
}

export interface SessionExpiryOptions {
  /** The tenant environments served now (asked at the start of every pass, so a reload takes effect). */
  readonly scopes: () => Iterable<ExpiryScope>;
  /** Sessions examined per tick (default 200): a tick never holds the event loop for long. */
  readonly perTick?: number;
  /** Pause between ticks (ms, default 1000). */
  readonly intervalMs?: number;
  readonly logger?: Logger;
  readonly metrics?: StoreMetricsSink;
  /** Called for each session the sweep removed (metrics, and the data-event hook). */
  readonly onExpired?: (key: SessionKey, reason: 'idle' | 'max-age') => void;
}

/** Sessions a tick examines (and deletes) at once. */
const EXAMINED_AT_ONCE = 16;

/** The pause between ticks while the sweep is behind (instead of intervalMs). */
const BEHIND_INTERVAL_MS = 100;

/**
 * The background sweep that removes sessions settings.sessions has ended. It walks every served
 * tenant environment whose policy has an idle_ttl or max_age, one team at a time, and examines
 * at most `perTick` sessions per tick, then sleeps `intervalMs`: its work per tick is bounded,
 * so turns never wait behind it. A session is removed only at the revision found expired (a
 * turn that touched it meanwhile keeps it). The turn itself checks expiry too: the sweep only
 * reclaims the space of sessions nobody writes to again. Failures are retried with backoff.
 */
export class SessionExpiry {
  readonly #sessions: SessionStore;
  readonly #opts: SessionExpiryOptions;
  readonly #task: BackgroundTask;
  readonly #health: StoreHealth;
  /** What is left of the current pass: scopes not yet reached, and the ids left in the team being walked. */
  #pending: Array<{ scope: ExpiryScope; team: string }> = [];
  #ids: string[] = [];
  /** The first of #ids not examined yet (an index: removing from the front of a long list costs its length). */
  #nextId = 0;
  #at: { scope: ExpiryScope; team: string } | undefined;
  #removed = 0;

  constructor(sessions: SessionStore, opts: SessionExpiryOptions) {
    this.#sessions = sessions;
    this.#opts = opts;
    this.#health = new StoreHealth({ store: 'session expiry', logger: opts.logger, metrics: opts.metrics });
    this.#task = new BackgroundTask(() => this.#tick(), { op: 'expire', health: this.#health });
  }

  /** Start sweeping (the first tick after one interval). */
  start(): void {
    this.#task.schedule(this.#opts.intervalMs ?? 1000);
  }

  /** Sessions removed since start. */
  get removed(): number {
    return this.#removed;
  }

  /** Run one tick now (tests, and an operator's `data` command); resolves when it is done. */
  tickNow(): Promise<void> {
    return this.#task.runNow();
  }

  async stop(): Promise<void> {
    await this.#task.stop();
  }

  async #tick(): Promise<void> {
    let budget = this.#opts.perTick ?? 200;
    const removedBefore = this.#removed;
    while (budget > 0) {
      if (this.#nextId >= this.#ids.length && !(await this.#nextTeam())) break;
      // A few at once: their deletions share the journal's group commits (one by one, each waited
      // for its own fsync, and the sweep fell behind the sessions a busy host creates).
      const batch = this.#ids.slice(this.#nextId, this.#nextId + Math.min(budget, EXAMINED_AT_ONCE));
      this.#nextId += batch.length;
      budget -= batch.length;
      const { scope, team } = this.#at!;
      await Promise.all(batch.map((id) => this.#examine(scope, team, id)));
    }
    // Behind (a full tick that found expired sessions, and more of the pass to go): the next tick
    // comes sooner, so a host creating sessions faster than a tick a second can examine keeps
    // up; each tick's work stays bounded, and turns run between ticks. A failed tick is retried
    // by the task with backoff instead.
    const interval = this.#opts.intervalMs ?? 1000;
    const behind = budget === 0 && this.#removed > removedBefore;
    this.#task.schedule(behind ? Math.min(interval, BEHIND_INTERVAL_MS) : interval);
  }

  /** Move to the next team with sessions (a new pass once every scope was walked); false when a pass just ended. */
  async #nextTeam(): Promise<boolean> {
    for (;;) {
      if (this.#pending.length === 0) {
        if (this.#at === undefined) {
          this.#pending = this.#plan();
          if (this.#pending.length === 0) return false;
        } else {
          // A pass ended: the next starts at the next tick.
          this.#at = undefined;
          return false;
        }
      }
      const next = this.#pending.shift()!;
      this.#at = next;
      // One listing per team per pass; the ids are then examined a tick's worth at a time.
      this.#ids = await this.#sessions.list({ tenant: next.scope.tenant, env: next.scope.env, team: next.team });
      this.#nextId = 0;
      if (this.#ids.length > 0) return true;
    }
  }

  #plan(): Array<{ scope: ExpiryScope; team: string }> {
    const out: Array<{ scope: ExpiryScope; team: string }> = [];
    for (const scope of this.#opts.scopes()) {
      if (scope.policy.idleTtlMs === undefined && scope.policy.maxAgeMs === undefined) continue;
      for (const team of scope.teams) out.push({ scope, team });
    }
    return out;
  }

  async #examine(scope: ExpiryScope, team: string, id: string): Promise<void> {
    const key = sessionKey({ tenant: scope.tenant, env: scope.env, team }, id, 'expiry sweep');
    const found = await (this.#sessions.peek ?? this.#sessions.get).call(this.#sessions, key);
    if (!found) return;
    const reason = expiryOf(scope.policy, found.record, Date.now());
    if (!reason || !(await this.#sessions.delete(key, found.revision))) return;
    this.#removed++;
    this.#opts.onExpired?.(key, reason);
  }
}
