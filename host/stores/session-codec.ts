import { decode, encode } from 'cbor-x';
import { isValidId } from '../tenancy/ids.js';
import type { SessionKey } from './keys.js';
import { checkBelongs, CorruptSessionError, type SessionRecord } from './session-store.js';

/**
 * The bytes of a session, encoded once per change: the same CBOR of the record goes into the
 * journal frame and, at the checkpoint, into the session file's envelope `{rev, record}`.
 */

/** Largest encoded session record accepted (and the largest session file read). */
export const MAX_SESSION_BYTES = 8 * 1024 * 1024;

/** A session record that would be larger than MAX_SESSION_BYTES encoded. */
export class SessionTooLargeError extends Error {
  override readonly name = 'SessionTooLargeError';
}

/** CBOR of a record, in a buffer of its own (cbor-x hands out views of a shared one, which a cache must not pin). */
export function encodeRecord(record: SessionRecord): Buffer {
  const view = encode(record);
  if (view.length > MAX_SESSION_BYTES) {
    throw new SessionTooLargeError(`session ${record.session} would be ${view.length} bytes encoded, over the ${MAX_SESSION_BYTES}-byte limit`);
  }
  const own = Buffer.allocUnsafeSlow(view.length);
  view.copy(own);
  return own;
}

const MAP2 = Buffer.from([0xa2]);
const REV_KEY = encode('rev');
const RECORD_KEY = encode('record');

/** The session file: CBOR map {rev, record}, assembled around the record's bytes (no second encoding). */
export function sessionFileBytes(rev: number, recordBytes: Uint8Array): Buffer {
  return Buffer.concat([MAP2, REV_KEY, encode(rev), RECORD_KEY, recordBytes]);
}

/** Decode and check a session file found at `key`'s path; CorruptSessionError says what is wrong. */
export function decodeSessionFile(bytes: Uint8Array, key: SessionKey, file: string): { rev: number; record: SessionRecord } {
  const where = `session file ${file}`;
  if (bytes.length === 0) throw new CorruptSessionError(`${where} is empty`);
  let env: unknown;
  try {
    env = decode(bytes);
  } catch (e) {
    throw new CorruptSessionError(`${where} is not valid CBOR: ${(e as Error).message}`);
  }
  if (!isPlainObject(env) || !Object.hasOwn(env, 'rev') || !Object.hasOwn(env, 'record')) {
    throw new CorruptSessionError(`${where} is not a session file (expected a map with rev and record)`);
  }
  const rev = env.rev;
  if (!Number.isSafeInteger(rev) || (rev as number) < 1) throw new CorruptSessionError(`${where} has an invalid revision`);
  const record = checkRecordShape(env.record, where);
  checkBelongs(key, record, file);
  return { rev: rev as number, record };
}

/** A decoded record with every field of a SessionRecord of the right type, or CorruptSessionError naming the first wrong field. */
export function checkRecordShape(value: unknown, where: string): SessionRecord {
  const bad = (field: string, want: string): never => {
    throw new CorruptSessionError(`${where}: record.${field} is not ${want}`);
  };
  if (!isPlainObject(value)) return bad('', 'a map');
  const r = value;
  if (r.v !== 1) bad('v', '1');
  for (const f of ['tenant', 'env', 'team', 'session', 'channel', 'user'] as const) if (!isValidId(r[f])) bad(f, 'an id');
  for (const f of ['created_at', 'updated_at', 'turns'] as const) if (typeof r[f] !== 'number' || !Number.isFinite(r[f])) bad(f, 'a number');
  const c = r.cursor;
  if (c !== null && !(isPlainObject(c) && typeof c.flow === 'string' && typeof c.node === 'string' && typeof c.waiting === 'boolean')) {
    bad('cursor', 'null or {flow, node, waiting}');
  }
  if (!isPlainObject(r.state) || !Object.values(r.state).every((v) => typeof v === 'string')) bad('state', 'a map of strings');
  if (!Array.isArray(r.recent_messages) || !r.recent_messages.every((m) => typeof m === 'string')) bad('recent_messages', 'a list of strings');
  if (r.transcript !== undefined) {
    const ok =
      Array.isArray(r.transcript) &&
      r.transcript.every((t) => isPlainObject(t) && (t.from === 'user' || t.from === 'bot') && typeof t.text === 'string' && typeof t.at === 'number');
    if (!ok) bad('transcript', 'a list of {from, text, at}');
  }
  const lt = r.last_turn;
  if (lt !== undefined && lt !== null) {
    const ok =
      isPlainObject(lt) &&
      typeof lt.id === 'string' &&
      Array.isArray(lt.outbox) &&
      lt.outbox.every((o) => isPlainObject(o) && typeof o.channel === 'string' && typeof o.text === 'string');
    if (!ok) bad('last_turn', 'null or {id, outbox}');
  }
  return value as unknown as SessionRecord;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
