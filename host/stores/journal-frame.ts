import { crc32 } from 'node:zlib';
import { decode, encode } from 'cbor-x';
import { sessionKey, type SessionKey } from './keys.js';
import { checkRecordShape, encodeRecord, MAX_SESSION_BYTES } from './session-codec.js';
import { checkBelongs, type SessionRecord } from './session-store.js';

/**
 * The journal's frame format. Each frame:
 *
 *   magic "GSJ2" | body length u32 LE | frame number u32 LE | CRC-32 of (length, number, body) | body
 *
 * The body is CBOR: `[tenant, env, team, session, rev, record | null]` for a change (the record's
 * bytes are the ones encoded for the turn, spliced in), or `[]` for a no-op (a probe that the disk
 * takes writes again). Frame numbers count from 0 in each segment.
 */

export const FRAME_HEADER = 16;
const MAGIC = Buffer.from('GSJ2', 'latin1');
const MAX_BODY = MAX_SESSION_BYTES + 4096;
const ARRAY6 = Buffer.from([0x86]);
const NULL = Buffer.from([0xf6]);
const NOOP = Buffer.from([0x80]);

/** One journal entry: the session's new revision and record, or null for a deletion. */
export interface JournalEntry {
  readonly key: SessionKey;
  readonly rev: number;
  readonly record: SessionRecord | null;
}

/** The body of a change frame, around the record's already-encoded bytes (null: a deletion). */
export function changeBody(key: SessionKey, rev: number, recordBytes: Uint8Array | null): Buffer {
  return Buffer.concat([ARRAY6, encode(key.tenant), encode(key.env), encode(key.team), encode(key.session), encode(rev), recordBytes ?? NULL]);
}

/** The body of a no-op frame. */
export function noopBody(): Buffer {
  return NOOP;
}

/** Frame `bodies` as frames number `firstSeq`, `firstSeq + 1`, ... in one buffer. */
export function frames(bodies: readonly Uint8Array[], firstSeq: number): Buffer {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bodies.length; i++) {
    const body = bodies[i]!;
    const head = Buffer.alloc(FRAME_HEADER);
    MAGIC.copy(head, 0);
    head.writeUInt32LE(body.length, 4);
    head.writeUInt32LE((firstSeq + i) >>> 0, 8);
    head.writeUInt32LE(crc32(body, crc32(head.subarray(4, 12))), 12);
    parts.push(head, body);
  }
  return Buffer.concat(parts);
}

/** A stretch of a segment that held no valid frame. */
export interface DamagedRange {
  readonly offset: number;
  readonly bytes: number;
  /** Frames missing by their numbers (0 when the range ends the segment: unknown). */
  readonly lostFrames: number;
}

/** What a segment holds: its valid entries, the damaged ranges skipped, and a torn tail (an incomplete last write). */
export interface ParsedSegment {
  readonly entries: JournalEntry[];
  readonly frames: number;
  readonly damaged: DamagedRange[];
  readonly tornTail: { readonly offset: number; readonly bytes: number } | null;
}

/**
 * Read a segment. An invalid stretch at the end is a torn tail (a write cut short by a crash or
 * a full disk: it was never acknowledged) and is dropped. An invalid stretch with valid frames
 * after it is damage (the writer never writes past a failed write: it truncates first), so the
 * frames after it were acknowledged and are kept. A frame is accepted only with the magic, a
 * CRC over its length, number and body, a number above the last one accepted, and a body that
 * decodes to a well-formed entry with valid ids: random or stale bytes are not taken for one.
 */
export function parseSegment(bytes: Uint8Array): ParsedSegment {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const entries: JournalEntry[] = [];
  const damaged: DamagedRange[] = [];
  let pos = 0;
  let lastSeq = -1;
  let count = 0;
  while (pos < buf.length) {
    const got = readFrame(buf, pos, lastSeq);
    if (got) {
      if (got.entry) entries.push(got.entry);
      count++;
      lastSeq = got.seq;
      pos = got.end;
      continue;
    }
    const next = resync(buf, pos + 1, lastSeq);
    if (!next) return { entries, frames: count, damaged, tornTail: { offset: pos, bytes: buf.length - pos } };
    damaged.push({ offset: pos, bytes: next.at - pos, lostFrames: next.seq - lastSeq - 1 });
    pos = next.at;
  }
  return { entries, frames: count, damaged, tornTail: null };
}

function resync(buf: Buffer, from: number, lastSeq: number): { at: number; seq: number } | null {
  for (let at = buf.indexOf(MAGIC, from); at >= 0; at = buf.indexOf(MAGIC, at + 1)) {
    const f = readFrame(buf, at, lastSeq);
    if (f) return { at, seq: f.seq };
  }
  return null;
}

function readFrame(buf: Buffer, pos: number, lastSeq: number): { entry: JournalEntry | null; seq: number; end: number } | null {
  if (pos + FRAME_HEADER > buf.length || buf.compare(MAGIC, 0, 4, pos, pos + 4) !== 0) return null;
  const len = buf.readUInt32LE(pos + 4);
  const seq = buf.readUInt32LE(pos + 8);
  const end = pos + FRAME_HEADER + len;
  if (len > MAX_BODY || end > buf.length || seq <= lastSeq) return null;
  const body = buf.subarray(pos + FRAME_HEADER, end);
  if (crc32(body, crc32(buf.subarray(pos + 4, pos + 12))) !== buf.readUInt32LE(pos + 12)) return null;
  const entry = entryOf(body);
  return entry === undefined ? null : { entry, seq, end };
}

/** The entry a body holds, null for a no-op, undefined if it is not a well-formed body. */
function entryOf(body: Buffer): JournalEntry | null | undefined {
  let v: unknown;
  try {
    v = decode(body);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  if (v.length === 0) return null;
  if (v.length !== 6) return undefined;
  const [tenant, env, team, session, rev, record] = v as unknown[];
  try {
    const key = sessionKey(
      { tenant: tenant as string, env: env as string, team: team === 'default' ? undefined : (team as string) },
      session as string,
      'journal',
    );
    if (!Number.isSafeInteger(rev) || (rev as number) < 1) return undefined;
    if (record === null) return { key, rev: rev as number, record: null };
    const r = checkRecordShape(record, 'journal entry');
    checkBelongs(key, r, 'journal entry');
    return { key, rev: rev as number, record: r };
  } catch {
    return undefined;
  }
}

/** The bytes a replayed entry's record is stored as (recovery is rare: encoding again is fine). */
export function recordBytesOf(entry: JournalEntry): Buffer | null {
  return entry.record === null ? null : encodeRecord(entry.record);
}
