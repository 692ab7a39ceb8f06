import type { DeadLetter, DeadLetterStore } from '../stores/dead-letters.js';
import { sessionKey, type SessionKey } from '../stores/keys.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { SessionRecord, SessionStore } from '../stores/session-store.js';
import { checkId } from '../tenancy/ids.js';
import type { TenantModel } from '../tenancy/model.js';
import type { DataEvent, DataEventSink } from './data-events.js';
import { deadLetterView, EXPORT_FORMAT, sessionView, type ExportDocument } from './export-format.js';

/** Whose data: one user of the tenant, one session, or everything (of one environment, or of the tenant). */
export type DataSelector =
  | { readonly kind: 'user'; readonly user: string; readonly env?: string }
  | { readonly kind: 'session'; readonly env: string; readonly team: string; readonly session: string }
  | { readonly kind: 'all'; readonly env?: string };

/** What a whole-tenant erasure must also remove that the stores' own deletions leave (directories, KV and stream history). */
export interface TenantWipe {
  /** Remove every trace of the tenant's sessions, dead letters and secrets left in the backend. */
  wipeTenant(tenant: string): Promise<void>;
  /** Remove what an erasure of these sessions may have left beside them (moved-aside damaged copies). */
  wipeSessions(keys: readonly SessionKey[]): Promise<void>;
}

export interface TenantDataDeps {
  readonly sessions: SessionStore;
  readonly deadLetters: DeadLetterStore;
  readonly secrets: SecretStore;
  readonly tenants: ReadonlyMap<string, TenantModel>;
  readonly wipe: TenantWipe;
  readonly onEvent?: DataEventSink | undefined;
  /** The sessions an erasure removed (whoever keeps figures per session, such as the webchat's stored bytes, drops theirs). */
  readonly onSessionsRemoved?: ((keys: readonly SessionKey[]) => void) | undefined;
}

/** Dead letters read per page while looking for a user's. */
const LETTER_PAGE = 100;

/** A tenant, environment or team named for export or erasure that the configuration does not have. */
export class UnknownScopeError extends Error {
  override readonly name = 'UnknownScopeError';
}

/**
 * Export and erasure of a tenant's stored conversations: by user, by session, by environment or
 * the whole tenant. Everything goes through the stores' own operations (so an erasure is
 * journaled like any change and survives a crash), then the stores are flushed so no journal
 * segment still holds what was erased. Every action is reported to `onEvent`, the one place an
 * audit log hooks in.
 */
export class TenantData {
  constructor(private readonly deps: TenantDataDeps) {}

  /** Everything stored for the selector, as the documented export document. */
  async export(tenant: string, sel: DataSelector, actor: string): Promise<ExportDocument> {
    const env = this.#check(tenant, sel);
    return this.#reported('export', tenant, sel, env, actor, async () => {
      const sessions = [];
      for await (const { record } of this.#sessionsOf(tenant, sel)) sessions.push(sessionView(record));
      const letters = (await this.#lettersOf(tenant, sel)).map(deadLetterView);
      const doc: ExportDocument = {
        format: EXPORT_FORMAT,
        tenant,
        env: env ?? null,
        user: sel.kind === 'user' ? sel.user : null,
        session: sel.kind === 'session' ? sel.session : null,
        exported_at: new Date().toISOString(),
        sessions,
        dead_letters: letters,
      };
      return { result: doc, counts: { sessions: sessions.length, dead_letters: letters.length } };
    });
  }

  /** Erase everything stored for the selector; a whole tenant also loses its secrets. Returns what was removed. */
  async erase(tenant: string, sel: DataSelector, actor: string): Promise<Record<string, number>> {
    const env = this.#check(tenant, sel);
    return this.#reported('erase', tenant, sel, env, actor, async () => {
      const { sessions, deadLetters, secrets, wipe } = this.deps;
      const keys: SessionKey[] = [];
      for await (const { key } of this.#sessionsOf(tenant, sel)) keys.push(key);
      const removed: SessionKey[] = [];
      for (const key of keys) if (await sessions.delete(key)) removed.push(key);
      this.deps.onSessionsRemoved?.(removed);
      let letters = 0;
      for (const l of await this.#lettersOf(tenant, sel)) if (await deadLetters.delete(tenant, l.id)) letters++;
      const counts: Record<string, number> = { sessions: removed.length, dead_letters: letters };
      if (sel.kind === 'all' && sel.env === undefined) {
        let n = 0;
        const model = this.deps.tenants.get(tenant)!;
        const namespaces = [{ kind: 'tenant' as const, tenant }, ...[...model.teams.keys()].map((team) => ({ kind: 'team' as const, tenant, team }))];
        for (const ns of namespaces) for (const name of await secrets.list(ns)) if (await secrets.delete(ns, name)) n++;
        counts.secrets = n;
      }
      // The deletions are durable once journaled; the flush drops the journal segments and files that still held the data.
      await sessions.flush();
      await wipe.wipeSessions(keys);
      if (sel.kind === 'all' && sel.env === undefined) await wipe.wipeTenant(tenant);
      return { result: counts, counts };
    });
  }

  #check(tenant: string, sel: DataSelector): string | undefined {
    checkId('tenant', tenant, 'data request');
    const model = this.deps.tenants.get(tenant);
    if (!model) throw new UnknownScopeError(`unknown tenant "${tenant}"`);
    const env = sel.env;
    if (env !== undefined && !model.envs.has(checkId('env', env, 'data request')))
      throw new UnknownScopeError(`tenant "${tenant}" has no environment "${env}"`);
    if (sel.kind === 'user') checkId('user', sel.user, 'data request');
    if (sel.kind === 'session') {
      checkId('session', sel.session, 'data request');
      if (!model.teams.has(checkId('team', sel.team, 'data request'))) throw new UnknownScopeError(`tenant "${tenant}" has no team "${sel.team}"`);
    }
    return env;
  }

  /** The sessions the selector names, read without caching, across the tenant's (or one environment's) teams. */
  async *#sessionsOf(tenant: string, sel: DataSelector): AsyncGenerator<{ key: SessionKey; record: SessionRecord }> {
    const { sessions } = this.deps;
    const read = (key: SessionKey) => (sessions.peek ?? sessions.get).call(sessions, key);
    if (sel.kind === 'session') {
      const key = sessionKey({ tenant, env: sel.env, team: sel.team }, sel.session, 'data request');
      const found = await read(key);
      if (found) yield { key, record: found.record };
      return;
    }
    const model = this.deps.tenants.get(tenant)!;
    for (const env of sel.env === undefined ? model.envs.keys() : [sel.env]) {
      for (const team of model.teams.values()) {
        if (!team.envs.has(env)) continue;
        for (const id of await sessions.list({ tenant, env, team: team.id })) {
          const key = sessionKey({ tenant, env, team: team.id }, id, 'data request');
          const found = await read(key);
          if (found && (sel.kind === 'all' || found.record.user === sel.user)) yield { key, record: found.record };
        }
      }
    }
  }

  /** The tenant's dead letters the selector covers: a user's are those whose message names them. */
  async #lettersOf(tenant: string, sel: DataSelector): Promise<DeadLetter[]> {
    if (sel.kind === 'session') return [];
    const out: DeadLetter[] = [];
    for (let after: string | undefined; ;) {
      const page = await this.deps.deadLetters.list(tenant, { after, limit: LETTER_PAGE });
      for (const l of page) {
        const { env, user } = messageScope(l);
        if (sel.env !== undefined && env !== sel.env) continue;
        if (sel.kind === 'user' && user !== sel.user) continue;
        out.push(l);
      }
      if (page.length < LETTER_PAGE) return out;
      after = page[page.length - 1]!.id;
    }
  }

  async #reported<T>(
    action: DataEvent['action'],
    tenant: string,
    sel: DataSelector,
    env: string | undefined,
    actor: string,
    run: () => Promise<{ result: T; counts: Record<string, number> }>,
  ): Promise<T> {
    const target: DataEvent['target'] =
      sel.kind === 'user'
        ? { kind: 'user', id: sel.user }
        : sel.kind === 'session'
          ? { kind: 'session', id: sel.session }
          : env === undefined
            ? { kind: 'tenant', id: tenant }
            : { kind: 'env', id: env };
    try {
      const { result, counts } = await run();
      this.#emit({ action, tenant, env, target, actor, outcome: 'ok', counts });
      return result;
    } catch (e) {
      this.#emit({ action, tenant, env, target, actor, outcome: 'failed', error: e instanceof Error ? e.message : String(e) });
      throw e;
    }
  }

  #emit(event: DataEvent): void {
    try {
      this.deps.onEvent?.(event);
    } catch {
      // A broken hook must not turn a done erasure into a failed one.
    }
  }
}

/** The env and user a dead letter's message names (its subject's env token, its body's user), where readable. */
function messageScope(l: DeadLetter): { env: string | undefined; user: unknown } {
  const env = l.subject.split('.')[3];
  try {
    const body = JSON.parse(Buffer.from(l.data).toString('utf8')) as { user?: unknown } | null;
    return { env, user: body?.user };
  } catch {
    return { env, user: undefined };
  }
}
