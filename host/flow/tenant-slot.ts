import type { BusSubscription } from '../messaging/bus.js';
import type { ConfigProblem } from '../tenancy/config/problems.js';
import type { TenantFolderWalk } from '../tenancy/config/tenant-files.js';
import type { TenantModel } from '../tenancy/model.js';
import type { TenantRuntime } from './runtime.js';
import type { ReloadOutcome, TenantReport, TenantState } from './tenant-reports.js';

/** A tenant loaded from the bundle as it is now, not yet served. */
export interface Candidate {
  readonly id: string;
  readonly walk: TenantFolderWalk;
  readonly configDigest: string;
  /** True when this instance's deployment model serves the tenant. */
  readonly served: boolean;
  readonly model: TenantModel | null;
  /** Its runtime, when it is served and anything of it loaded. */
  readonly runtime: TenantRuntime | undefined;
  readonly problems: readonly ConfigProblem[];
  readonly version: string;
}

interface Version {
  readonly version: string;
  readonly at: number;
  readonly problems: readonly ConfigProblem[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** What the registry knows of one tenant: the version in use, the last refused one, its subscription and folders. */
export class TenantSlot {
  /** The version in use: its runtime answers (or, for a tenant left to other instances, its model is loaded). */
  served: Version | undefined;
  refused: Version | undefined;
  /** Why nothing of it is in use, when nothing is. */
  failure: readonly ConfigProblem[] = [];
  last: { at: number; outcome: ReloadOutcome; version: string | null } | undefined;
  removed = false;
  notServed = false;
  subscription: BusSubscription | undefined;
  dirs: readonly string[] = [];
  truncated = false;
  configDigest: string | undefined;

  constructor(readonly id: string) {}

  /**
   * Whether candidate `c` is served: a version with problems never replaces one in use (kept,
   * and reported as refused); one that loaded nothing fails; otherwise it is served (at start and
   * for a new tenant even with problems, as its channels that work are better than none).
   */
  decide(c: Candidate, atStart: boolean): ReloadOutcome {
    this.removed = false;
    this.notServed = !c.served;
    this.dirs = c.walk.dirs;
    this.truncated = c.walk.truncated;
    this.configDigest = c.configDigest;
    const usable = c.served ? c.runtime !== undefined : c.model !== null;
    const good = usable && c.problems.length === 0;
    const now = Date.now();
    let outcome: ReloadOutcome;
    if (this.served && !good) {
      this.refused = { version: c.version, at: now, problems: c.problems };
      outcome = 'kept-last-good';
    } else if (!usable) {
      this.served = undefined;
      this.refused = undefined;
      this.failure = c.problems;
      outcome = 'failed';
    } else {
      const same = good && this.served?.version === c.version && this.served.problems.length === 0;
      outcome = atStart ? 'loaded' : same ? 'unchanged' : this.served ? 'reloaded' : 'added';
      if (!same) this.served = { version: c.version, at: now, problems: c.problems };
      this.refused = undefined;
      this.failure = [];
    }
    this.last = { at: now, outcome, version: c.version };
    return outcome;
  }

  /** Nothing of it can be served after all (its ingress could not be subscribed). */
  fail(c: Candidate, problems: readonly ConfigProblem[]): void {
    this.served = undefined;
    this.refused = undefined;
    this.failure = [...c.problems, ...problems];
    this.last = { at: Date.now(), outcome: 'failed', version: c.version };
  }

  /** It left the bundle. */
  remove(): void {
    this.removed = true;
    this.served = undefined;
    this.refused = undefined;
    this.failure = [];
    this.dirs = [];
    this.last = { at: Date.now(), outcome: 'removed', version: null };
  }

  allProblems(): ConfigProblem[] {
    return [...(this.served?.problems ?? []), ...(this.refused?.problems ?? []), ...this.failure];
  }

  state(): TenantState {
    if (this.removed) return 'removed';
    if (!this.served) return 'failed';
    if (this.notServed) return 'not-served';
    if (this.refused) return 'stale';
    return this.served.problems.length > 0 ? 'degraded' : 'serving';
  }

  report(watch: TenantReport['watch']): TenantReport {
    return {
      tenant: this.id,
      state: this.state(),
      version: this.served?.version ?? null,
      loadedAt: this.served ? iso(this.served.at) : null,
      problems: this.served ? this.served.problems : this.failure,
      refused: this.refused ? { version: this.refused.version, at: iso(this.refused.at), problems: this.refused.problems } : null,
      lastReload: this.last ? { at: iso(this.last.at), outcome: this.last.outcome, version: this.last.version } : null,
      watch: this.removed ? 'off' : watch,
    };
  }
}
