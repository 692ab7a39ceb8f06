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
  const own = withLinesReused(record) ?? copied(encode(record));
  if (own.length > MAX_SESSION_BYTES) {
    throw new SessionTooLargeError(`session ${record.session} would be ${own.length} bytes encoded, over the ${MAX_SESSION_BYTES}-byte limit`);
  }
  return own;
}

function copied(view: Uint8Array): Buffer {
  const own = Buffer.allocUnsafeSlow(view.length);
  own.set(view);
  return own;
}

/**
 * The CBOR of each transcript line, by line. A turn's record shares its lines with the record
 * before it (it appends to the same array's items), so most of a long transcript was encoded by
 * an earlier turn already: only the new lines are encoded. A line is frozen once cached, so its
 * bytes cannot go stale.
 */
const lineCbor = new WeakMap<object, Uint8Array>();
const TRANSCRIPT_KEY = copied(encode('transcript'));
/** Below this many lines the plain encoding is as quick. */
const REUSE_FROM_LINES = 8;

/**
 * The same bytes as cbor-x's encode(record) (a map16 of the keys in order, each line as cbor-x
 * encodes it), assembled from the lines' cached CBOR; undefined when the record is not of the
 * shape this handles (transcript not its last key, a short transcript), for the plain encoding.
 */
function withLinesReused(record: SessionRecord): Buffer | undefined {
  const lines = record.transcript;
  if (!Array.isArray(lines) || lines.length < REUSE_FROM_LINES || lines.length >= 0x10000) return undefined;
  const keys = Object.keys(record);
  if (keys[keys.length - 1] !== 'transcript' || keys.length >= 0x10000) return undefined;
  const parts: Uint8Array[] = new Array(lines.length);
  let linesBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let bytes = lineCbor.get(line);
    if (!bytes) {
      bytes = encode(line).slice();
      Object.freeze(line);
      lineCbor.set(line, bytes);
    }
    parts[i] = bytes;
    linesBytes += bytes.length;
  }
  const { transcript: _lines, ...rest } = record;
  // Encoded last: the view is read before cbor-x writes anything else.
  const head = encode(rest);
  if (head[0] !== 0xb9) return undefined;
  const arrayHead = lines.length < 24 ? 1 : lines.length < 0x100 ? 2 : 3;
  const out = Buffer.allocUnsafeSlow(head.length + TRANSCRIPT_KEY.length + arrayHead + linesBytes);
  out.set(head, 0);
  // One key more than `rest` has: the map16 count, big-endian.
  out[1] = keys.length >> 8;
  out[2] = keys.length & 0xff;
  let at = head.length;
  out.set(TRANSCRIPT_KEY, at);
  at += TRANSCRIPT_KEY.length;
  if (arrayHead === 1) out[at++] = 0x80 | lines.length;
  else if (arrayHead === 2) {
    out[at++] = 0x98;
    out[at++] = lines.length;
  } else {
    out[at++] = 0x99;
    out[at++] = lines.length >> 8;
    out[at++] = lines.length & 0xff;
  }
  for (const bytes of parts) {
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
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
