import { headers as natsHeaders } from '@nats-io/transport-node';
import { StorageType, type StoredMsg, type StreamConfig } from '@nats-io/jetstream';
import { isValidId } from '../../tenancy/ids.js';
import { count } from '../../util/count.js';
import { checkHeaderValue } from './headers.js';
import type { NatsLink } from './links.js';
import { ensureStreams, GLOBAL_SECRETS_BUCKET, globalStreams, isNotFound, secretsBucket, sessionsBucket, tenantStreams } from './resources.js';

/** Messages waiting in the old ingress stream that one migration carries over (they are held in memory meanwhile). */
export const MAX_MIGRATED_INGRESS = 100_000;

/** What a migration found and moved, per tenant. */
export interface MigrationReport {
  readonly tenants: string[];
  readonly sessions: number;
  readonly secrets: number;
  readonly ingress: number;
  /** Old keys and subjects that name no valid tenant (left out, each said once). */
  readonly skipped: string[];
  readonly removed: string[];
}

const OLD = { ingress: 'GREENTIC_INGRESS', egress: 'GREENTIC_EGRESS', sessions: 'greentic_sessions', secrets: 'greentic_secrets' } as const;

/**
 * Move a deployment from the shared streams of earlier versions to per-tenant ones: sessions
 * and secrets are copied key by key into each tenant's buckets (secrets stay sealed: their
 * address, the associated data, does not change); ingress messages still waiting are read, the
 * shared ingress and egress streams removed (their subjects overlap the per-tenant ones, which
 * the server refuses), the tenants' streams created, and the messages published again with
 * their message ids. The old buckets go last, once everything was copied. `dryRun` only counts.
 */
export async function migrateSharedStreams(link: NatsLink, dryRun: boolean, say: (line: string) => void): Promise<MigrationReport> {
  const tenants = new Set<string>();
  const skipped: string[] = [];
  const removed: string[] = [];
  const tenantOf = (key: string, what: string): string | null => {
    const t = key.split('.')[0]!;
    if (isValidId(t) && t !== 'global') return (tenants.add(t), t);
    skipped.push(`${what} ${JSON.stringify(key.slice(0, 120))}`);
    return null;
  };

  const sessions = await oldEntries(link, OLD.sessions);
  const secrets = await oldEntries(link, OLD.secrets);
  for (const s of sessions) tenantOf(s.key, 'session');
  for (const s of secrets) if (!s.key.startsWith('global.')) tenantOf(s.key, 'secret');
  // Waiting ingress is parked in a stream of its own first: the old stream must go before the
  // tenants' can exist, and a migration stopped half way finds the parked messages again.
  const parked = await oldMessages(link, PARKED);
  const waiting =
    parked.length > 0
      ? parked.map(unpark)
      : (await oldMessages(link, OLD.ingress)).map((m) => ({ subject: m.subject, data: m.data, id: m.header?.get('Nats-Msg-Id') || undefined, seq: m.seq }));
  for (const m of waiting) {
    const t = m.subject.split('.')[4] ?? '';
    if (isValidId(t) && t !== 'global') tenants.add(t);
    else skipped.push(`ingress message on ${JSON.stringify(m.subject.slice(0, 120))}`);
  }
  const sorted = [...tenants].sort();
  say(
    `found ${count(sorted.length, 'tenant')} (${sorted.join(', ') || 'none'}): ${count(sessions.length, 'session')}, ${count(secrets.length, 'secret')}, ${count(waiting.length, 'waiting ingress message')}`,
  );
  if (dryRun) return { tenants: sorted, sessions: sessions.length, secrets: secrets.length, ingress: waiting.length, skipped, removed };

  if (parked.length === 0 && waiting.length > 0) {
    await ensureStreams(
      link.jsm,
      [{ name: PARKED, subjects: [PARKED_SUBJECT], storage: StorageType.File, num_replicas: 1 } as StreamConfig],
      'the migrating user',
    );
    for (const m of waiting) {
      const h = natsHeaders();
      h.set(SUBJECT_HEADER, checkHeaderValue(SUBJECT_HEADER, m.subject));
      if (m.id) h.set(ID_HEADER, checkHeaderValue(ID_HEADER, m.id));
      await link.js.publish(PARKED_SUBJECT, m.data, { headers: h, msgID: `parked-${m.seq}`, timeout: 5000 });
    }
  }
  for (const name of [OLD.ingress, OLD.egress]) if (await dropStream(link, name)) removed.push(name);
  await ensureStreams(link.jsm, globalStreams(), 'the migrating user');
  for (const t of sorted) await ensureStreams(link.jsm, tenantStreams(t), 'the migrating user');
  let ingress = 0;
  for (const m of waiting) {
    const t = m.subject.split('.')[4] ?? '';
    if (!tenants.has(t)) continue;
    // The original id: a second run (or a message the old stream also still had) is stored once.
    await link.js.publish(m.subject, m.data, { msgID: m.id ? checkHeaderValue('Nats-Msg-Id', m.id) : `migrated-${m.seq}`, timeout: 5000 });
    ingress++;
  }
  if (await dropStream(link, PARKED)) removed.push(PARKED);
  let movedSessions = 0;
  for (const s of sessions) {
    const t = s.key.split('.')[0]!;
    if (!tenants.has(t)) continue;
    await putKv(link, sessionsBucket(t), s.key.slice(t.length + 1), s.value);
    movedSessions++;
  }
  let movedSecrets = 0;
  for (const s of secrets) {
    const t = s.key.split('.')[0]!;
    if (t === 'global') await putKv(link, GLOBAL_SECRETS_BUCKET, s.key.slice('global.'.length), s.value);
    else if (tenants.has(t)) await putKv(link, secretsBucket(t), s.key.slice(t.length + 1), s.value);
    else continue;
    movedSecrets++;
  }
  for (const name of [`KV_${OLD.sessions}`, `KV_${OLD.secrets}`]) if (await dropStream(link, name)) removed.push(name);
  for (const s of skipped) say(`left out (no valid tenant id): ${s}`);
  say(
    `moved ${count(movedSessions, 'session')}, ${count(movedSecrets, 'secret')}, ${count(ingress, 'ingress message')}; removed ${removed.join(', ') || 'nothing'}`,
  );
  return { tenants: sorted, sessions: movedSessions, secrets: movedSecrets, ingress, skipped, removed };
}

/** Where waiting ingress waits while the shared stream is replaced (a subject no other stream captures). */
const PARKED = 'GREENTIC_MIGRATING';
const PARKED_SUBJECT = 'greentic.migrating.ingress';
const SUBJECT_HEADER = 'Greentic-Subject';
const ID_HEADER = 'Greentic-Msg-Id';

function unpark(m: StoredMsg): { subject: string; data: Uint8Array; id: string | undefined; seq: number } {
  return { subject: m.header?.get(SUBJECT_HEADER) ?? '', data: m.data, id: m.header?.get(ID_HEADER) || undefined, seq: m.seq };
}

/** Every live key and value of an old bucket (empty if there is none). */
async function oldEntries(link: NatsLink, bucket: string): Promise<Array<{ key: string; value: Uint8Array }>> {
  const prefix = `$KV.${bucket}.`;
  let info;
  try {
    info = await link.jsm.streams.info(`KV_${bucket}`, { subjects_filter: '>' });
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
  const out: Array<{ key: string; value: Uint8Array }> = [];
  for (const subject of Object.keys(info.state.subjects ?? {}).sort()) {
    const m = await link.jsm.streams.getMessage(`KV_${bucket}`, { last_by_subj: subject });
    const op = m?.header?.get('KV-Operation');
    if (m && op !== 'DEL' && op !== 'PURGE') out.push({ key: subject.slice(prefix.length), value: m.data });
  }
  return out;
}

/** Every message still in an old stream, oldest first (refused past MAX_MIGRATED_INGRESS: drain it first). */
async function oldMessages(link: NatsLink, stream: string): Promise<StoredMsg[]> {
  let info;
  try {
    info = await link.jsm.streams.info(stream);
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
  if (info.state.messages > MAX_MIGRATED_INGRESS)
    throw new RangeError(
      `${stream} still holds ${info.state.messages} messages, more than one migration carries (${MAX_MIGRATED_INGRESS}); let the old instances drain it first`,
    );
  const out: StoredMsg[] = [];
  for (let seq = info.state.first_seq; seq > 0 && seq <= info.state.last_seq; seq++) {
    const m = await link.jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) out.push(m);
  }
  return out;
}

async function dropStream(link: NatsLink, name: string): Promise<boolean> {
  try {
    return await link.jsm.streams.delete(name);
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** Store a value as the bucket's latest (no rollup, no compare: the new bucket is being filled). */
async function putKv(link: NatsLink, bucket: string, key: string, value: Uint8Array): Promise<void> {
  await link.js.publish(`$KV.${bucket}.${key}`, value, { timeout: 5000 });
}
