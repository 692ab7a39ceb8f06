import type { DeadLetter, DeadLetterStore, ReplayTarget } from '../stores/dead-letters.js';
import { checkId } from '../tenancy/ids.js';

/** A dead letter as an operator sees it (the CLI prints it, an admin API can answer it as JSON). */
export interface DeadLetterSummary {
  readonly id: string;
  /** When it was recorded, ISO 8601. */
  readonly at: string;
  readonly source: DeadLetter['source'];
  readonly reason: DeadLetter['reason'];
  readonly subject: string;
  readonly detail: string;
  readonly deliveries: number;
  readonly bytes: number;
}

/** Most letters one listing returns. */
export const MAX_LIST = 1000;

/** A dead letter's message: its text when it is UTF-8 JSON (what the host publishes), base64 otherwise. */
export function letterMessage(l: DeadLetter): { json: unknown } | { base64: string } {
  try {
    return { json: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(l.data)) };
  } catch {
    return { base64: Buffer.from(l.data).toString('base64') };
  }
}

/** What an operator sees of one letter. */
export function summarise(l: DeadLetter): DeadLetterSummary {
  return {
    id: l.id,
    at: new Date(l.at).toISOString(),
    source: l.source,
    reason: l.reason,
    subject: l.subject,
    detail: l.detail,
    deliveries: l.deliveries,
    bytes: l.data.length,
  };
}

/** The tenant's letters, oldest first, after `after`, at most `limit` (up to MAX_LIST). */
export async function listDeadLetters(store: DeadLetterStore, tenant: string, opts: { after?: string; limit?: number } = {}): Promise<DeadLetterSummary[]> {
  const t = checkId('tenant', tenant, 'dead letters');
  const limit = Math.max(1, Math.min(MAX_LIST, opts.limit ?? MAX_LIST));
  return (await store.list(t, { ...(opts.after === undefined ? {} : { after: checkId('message', opts.after, 'the dead-letter ids') }), limit })).map(summarise);
}

/** How a replay of several letters went, letter by letter. */
export interface ReplayReport {
  readonly replayed: string[];
  readonly missing: string[];
  readonly failed: Array<{ readonly id: string; readonly message: string }>;
}

/**
 * Replay letters of one tenant: each is published again on its own subject (of that tenant
 * only) under a fresh message id, then deleted. `ids` "all" replays every letter present now
 * (not those the replay itself creates). One letter failing does not stop the others.
 */
export async function replayDeadLetters(store: DeadLetterStore, tenant: string, ids: readonly string[] | 'all', target: ReplayTarget): Promise<ReplayReport> {
  const t = checkId('tenant', tenant, 'dead letters');
  const wanted = ids === 'all' ? await allIds(store, t) : ids.map((id) => checkId('message', id, 'the dead-letter ids'));
  const report: ReplayReport = { replayed: [], missing: [], failed: [] };
  for (const id of wanted) {
    try {
      if (await store.replay(t, id, target)) report.replayed.push(id);
      else report.missing.push(id);
    } catch (e) {
      report.failed.push({ id, message: (e as Error).message });
    }
  }
  return report;
}

/** Delete letters of one tenant; the ids that were not there. */
export async function deleteDeadLetters(store: DeadLetterStore, tenant: string, ids: readonly string[]): Promise<string[]> {
  const t = checkId('tenant', tenant, 'dead letters');
  const missing: string[] = [];
  for (const id of ids) if (!(await store.delete(t, checkId('message', id, 'the dead-letter ids')))) missing.push(id);
  return missing;
}

async function allIds(store: DeadLetterStore, tenant: string): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.list(tenant, { ...(after === undefined ? {} : { after }), limit: MAX_LIST });
    ids.push(...page.map((l) => l.id));
    if (page.length < MAX_LIST) return ids;
    after = page.at(-1)!.id;
  }
}
