/**
 * The worker's side of a call's scope. The worker serves state, messaging and log calls itself,
 * from the turn's snapshot, with the same InvocationScope and capability code as the main
 * thread: the ctx check, the permissions, the limits, the denial messages. What the turn did
 * (state, outbox, log lines, denials) goes back with its result and is applied on the main
 * thread. Secrets are not in the snapshot: they cross to the main thread's broker.
 */
import { InvocationScope, type ScopeLogger, type TurnState } from '../capabilities/scope.js';
import { logImports } from '../capabilities/log/host.js';
import { messagingImports } from '../capabilities/messaging/host.js';
import { stateImports } from '../capabilities/state/host.js';
import type { Permissions } from '../tenancy/grants.js';
import type { DenialEvent } from '../observability/metrics.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { SessionKey } from '../stores/keys.js';
import type { TenantCtx } from '../tenancy/tenant-ctx.js';
import type { FixedScope, LoggedLine } from './protocol.js';

/** What a job's calls logged and were denied, kept for the main thread (which logs them with the call's full scope). */
export class JobRecorder {
  readonly lines: LoggedLine[] = [];
  readonly denials: Array<[number, DenialEvent]> = [];
}

/** A logger that records lines of one plan node into a JobRecorder. */
class RecordingLogger implements ScopeLogger {
  constructor(
    private readonly rec: JobRecorder,
    private readonly node: number,
  ) {}
  child(): ScopeLogger {
    return this;
  }
  trace(f: Record<string, unknown>, m: string): void {
    this.rec.lines.push([this.node, 'trace', f, m]);
  }
  debug(f: Record<string, unknown>, m: string): void {
    this.rec.lines.push([this.node, 'debug', f, m]);
  }
  info(f: Record<string, unknown>, m: string): void {
    this.rec.lines.push([this.node, 'info', f, m]);
  }
  warn(f: Record<string, unknown>, m: string): void {
    this.rec.lines.push([this.node, 'warn', f, m]);
  }
  error(f: Record<string, unknown>, m: string): void {
    this.rec.lines.push([this.node, 'error', f, m]);
  }
}

/** The permissions and team channels of a fixed scope, built once per FixedScope object (one per plan node in a worker). */
export class FixedScopes {
  readonly #prepared = new WeakMap<FixedScope, { permissions: Permissions; teamChannels: ReadonlySet<string> }>();

  get(fixed: FixedScope): { permissions: Permissions; teamChannels: ReadonlySet<string> } {
    let p = this.#prepared.get(fixed);
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
      this.#prepared.set(fixed, p);
    }
    return p;
  }
}

const NO_SECRETS: SecretStore = {
  get: () => Promise.reject(new Error('secrets are served by the main thread')),
  set: () => Promise.reject(new Error('not here')),
  delete: () => Promise.reject(new Error('not here')),
  list: () => Promise.reject(new Error('not here')),
};

/** One node call's scope in the worker: an InvocationScope over the turn's state, and its capability imports. */
export class WorkerCallScope {
  readonly scope: InvocationScope;
  #state: ReturnType<typeof stateImports> | undefined;
  #messaging: ReturnType<typeof messagingImports> | undefined;
  #log: ReturnType<typeof logImports> | undefined;

  constructor(
    ctx: TenantCtx,
    session: SessionKey,
    fixed: FixedScope,
    prepared: { permissions: Permissions; teamChannels: ReadonlySet<string> },
    turn: TurnState,
    recorder: JobRecorder,
    readonly node: number,
  ) {
    this.scope = new InvocationScope({
      ctx,
      session,
      channel: fixed.channel,
      teamChannels: prepared.teamChannels,
      permissions: prepared.permissions,
      flow: fixed.flow,
      node: fixed.node,
      turn,
      services: { secrets: NO_SECRETS, logger: new RecordingLogger(recorder, node), metrics: { recordDenial: (e) => void recorder.denials.push([node, e]) } },
    });
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
}

/** The working memory if it differs from `before`, else null. */
export function changedWorking(before: ReadonlyArray<[string, string]>, working: ReadonlyMap<string, string>): Array<[string, string]> | null {
  const after = [...working];
  const same = after.length === before.length && after.every(([k, v], i) => before[i]?.[0] === k && before[i]?.[1] === v);
  return same ? null : after;
}
