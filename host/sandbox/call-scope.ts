/**
 * The worker's side of a call's scope. The worker serves state, messaging and log calls itself,
 * from the snapshot that came with the call, with the same InvocationScope and capability code
 * as the main thread: the ctx check, the permissions, the limits. What the call did (state,
 * outbox, log lines, denials) goes back with its result and is applied to the main thread's
 * scope. Secrets are not in the snapshot: they cross to the main thread's broker.
 */
import { InvocationScope, type ScopeLogger } from '../capabilities/scope.js';
import { logImports } from '../capabilities/log/host.js';
import { messagingImports } from '../capabilities/messaging/host.js';
import { stateImports } from '../capabilities/state/host.js';
import type { Permissions } from '../tenancy/grants.js';
import type { DenialEvent } from '../observability/metrics.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { CallEffects, FixedScope, ScopeSnapshot } from './protocol.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';

/** Log lines kept for the main thread, which writes them with the call's full scope. */
class RecordingLogger implements ScopeLogger {
  readonly lines: Array<[string, Record<string, unknown>, string]> = [];
  child(): ScopeLogger {
    return this;
  }
  trace(f: Record<string, unknown>, m: string): void {
    this.lines.push(['trace', f, m]);
  }
  debug(f: Record<string, unknown>, m: string): void {
    this.lines.push(['debug', f, m]);
  }
  info(f: Record<string, unknown>, m: string): void {
    this.lines.push(['info', f, m]);
  }
  warn(f: Record<string, unknown>, m: string): void {
    this.lines.push(['warn', f, m]);
  }
  error(f: Record<string, unknown>, m: string): void {
    this.lines.push(['error', f, m]);
  }
}

/** The permissions and team channels of a fixed scope, built once per distinct FixedScope object. */
const prepared = new WeakMap<FixedScope, { permissions: Permissions; teamChannels: ReadonlySet<string> }>();

function prepare(fixed: FixedScope): { permissions: Permissions; teamChannels: ReadonlySet<string> } {
  let p = prepared.get(fixed);
  if (!p) {
    p = {
      permissions: {
        component: fixed.component,
        state: fixed.state,
        messaging: fixed.messaging,
        log: fixed.log,
        // Checked on the main thread, where secrets are served.
        secrets: new Set(),
        globalSecrets: new Set(),
        wasi: new Set(),
        limits: fixed.limits,
      },
      teamChannels: new Set(fixed.teamChannels),
    };
    prepared.set(fixed, p);
  }
  return p;
}

const NO_SECRETS: SecretStore = {
  get: () => Promise.reject(new Error('secrets are served by the main thread')),
  set: () => Promise.reject(new Error('not here')),
  delete: () => Promise.reject(new Error('not here')),
  list: () => Promise.reject(new Error('not here')),
};

/** A call's scope in the worker, and how to collect what it did. */
export class WorkerCallScope {
  readonly scope: InvocationScope;
  readonly #logger = new RecordingLogger();
  readonly #denials: DenialEvent[] = [];
  readonly #before: ReadonlyArray<[string, string]>;
  #state: ReturnType<typeof stateImports> | undefined;
  #messaging: ReturnType<typeof messagingImports> | undefined;
  #log: ReturnType<typeof logImports> | undefined;

  constructor(ctx: TenantCtx, snap: ScopeSnapshot) {
    this.#before = snap.working;
    const { permissions, teamChannels } = prepare(snap.fixed);
    this.scope = new InvocationScope({
      ctx,
      session: snap.session,
      channel: snap.fixed.channel,
      teamChannels,
      permissions,
      flow: snap.fixed.flow,
      node: snap.fixed.node,
      turn: { working: new Map(snap.working), outbox: [] },
      services: { secrets: NO_SECRETS, logger: this.#logger, metrics: this },
    });
  }

  /** Where the scope's denials go: back to the main thread's metrics with the result. */
  recordDenial(e: DenialEvent): void {
    this.#denials.push(e);
  }

  /** The capability imports bound to this call's scope (made on first use). */
  get state(): ReturnType<typeof stateImports> {
    return (this.#state ??= stateImports(this.scope));
  }
  get messaging(): ReturnType<typeof messagingImports> {
    return (this.#messaging ??= messagingImports(this.scope));
  }
  get log(): ReturnType<typeof logImports> {
    return (this.#log ??= logImports(this.scope));
  }

  /** What the call did, to send back with its result. */
  effects(): CallEffects {
    const working = [...this.scope.turn.working];
    const changed = working.length !== this.#before.length || working.some(([k, v], i) => this.#before[i]?.[0] !== k || this.#before[i]?.[1] !== v);
    return {
      working: changed ? working : null,
      outbox: this.scope.turn.outbox.map((o) => ({ channel: o.channel, text: o.text })),
      logs: this.#logger.lines,
      denials: this.#denials,
      capabilityCalls: this.scope.capabilityCalls,
      outputBytes: this.scope.outputBytes,
    };
  }
}

/** Apply a call's effects to the main thread's scope. */
export function applyEffects(scope: InvocationScope, effects: CallEffects): void {
  if (effects.working) {
    scope.turn.working.clear();
    for (const [k, v] of effects.working) scope.turn.working.set(k, v);
  }
  for (const o of effects.outbox) scope.turn.outbox.push(o);
  for (const [level, fields, message] of effects.logs) scope.logger[level as 'info'](fields, message);
  for (const d of effects.denials) scope.services.metrics.recordDenial(d);
  scope.capabilityCalls += effects.capabilityCalls;
  scope.outputBytes += effects.outputBytes;
}

/** The snapshot of `scope` a call takes to its worker. */
export function snapshotOf(scope: InvocationScope): ScopeSnapshot {
  return { session: scope.session, working: [...scope.turn.working], fixed: fixedScopeOf(scope) };
}

/** The fixed part of `scope`'s snapshot. */
export function fixedScopeOf(scope: InvocationScope): FixedScope {
  const p = scope.permissions;
  return {
    channel: scope.channel,
    teamChannels: [...scope.teamChannels],
    flow: scope.flow,
    node: scope.node,
    component: p.component,
    state: p.state,
    messaging: p.messaging,
    log: p.log,
    limits: p.limits,
  };
}
