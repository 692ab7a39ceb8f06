import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from 'cbor-x';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSessionStore } from '../../dist/stores/file-session-store.js';
import { changeBody, FRAME_HEADER, frames, parseSegment, type JournalEntry } from '../../dist/stores/journal-frame.js';
import { sessionKey } from '../../dist/stores/keys.js';
import type { SessionRecord } from '../../dist/stores/session-store.js';
import { tempDir } from '../support/bundle.js';
import { sessionRecord } from '../support/session-record.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function record(session: string, turns: number, state: Record<string, string>): SessionRecord {
  return sessionRecord({ session, turns, state, updated_at: 2 });
}

/** Journal entries as turns make them: a few sessions, revisions counting up, some deletions. */
const entriesArb = fc
  .array(
    fc.record({
      session: fc.constantFrom('s1', 's2', 's3', 'a-b_c', '0'),
      deleted: fc.boolean(),
      state: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 40 }), { maxKeys: 4 }),
    }),
    { minLength: 1, maxLength: 12 },
  )
  .map((xs) =>
    xs.map((x, i): JournalEntry => {
      const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, x.session);
      return { key, rev: i + 1, record: x.deleted ? null : record(x.session, i, x.state) };
    }),
  );

/** A segment holding `entries`, and where each frame ends. */
function segment(entries: JournalEntry[]): { bytes: Buffer; ends: number[] } {
  const bodies = entries.map((e) => changeBody(e.key, e.rev, e.record ? encode(e.record) : null));
  const ends: number[] = [];
  let at = 0;
  for (const b of bodies) ends.push((at += FRAME_HEADER + b.length));
  return { bytes: frames(bodies, 0), ends };
}

const plain = (es: readonly JournalEntry[]) => es.map((e) => ({ session: e.key.session, rev: e.rev, record: e.record }));

describe('journal replay (torn and damaged segments)', () => {
  it('a write torn at any byte: every frame before the cut is kept, nothing after it is invented', () => {
    fc.assert(
      fc.property(entriesArb, fc.nat(), (entries, cutSeed) => {
        const { bytes, ends } = segment(entries);
        const cut = cutSeed % (bytes.length + 1);
        const parsed = parseSegment(bytes.subarray(0, cut));
        const whole = ends.filter((e) => e <= cut).length;
        expect(plain(parsed.entries)).toEqual(plain(entries.slice(0, whole)));
        expect(parsed.damaged).toEqual([]);
        const boundary = cut === 0 || ends.includes(cut);
        expect(parsed.tornTail).toEqual(boundary ? null : { offset: whole === 0 ? 0 : ends[whole - 1]!, bytes: cut - (whole === 0 ? 0 : ends[whole - 1]!) });
      }),
      { numRuns: 300 },
    );
  });

  it('damage in the middle: the frames after it are replayed, the ones it hit are counted as lost', () => {
    fc.assert(
      fc.property(entriesArb, fc.nat(), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 }), (entries, startSeed, lenSeed, junk) => {
        fc.pre(entries.length >= 3);
        const { bytes, ends } = segment(entries);
        const lastStart = ends[ends.length - 2]!;
        // Damage that ends before the last frame starts, so something valid follows it.
        const start = startSeed % lastStart;
        const len = 1 + (lenSeed % Math.max(1, lastStart - start));
        const damaged = Buffer.from(bytes);
        for (let i = 0; i < len; i++) damaged[start + i] = junk[i % junk.length]! ^ 0xa5;
        const parsed = parseSegment(damaged);
        const starts = [0, ...ends.slice(0, -1)];
        const untouched = entries.filter((_, i) => ends[i]! <= start || starts[i]! >= start + len);
        // Never invents an entry; keeps every frame the damage did not touch (junk equal to the
        // original bytes may leave a touched frame valid too).
        const got = plain(parsed.entries);
        for (const e of plain(untouched)) expect(got).toContainEqual(e);
        for (const e of got) expect(plain(entries)).toContainEqual(e);
        expect(parsed.tornTail).toBeNull();
        const lost = entries.length - parsed.entries.length;
        expect(parsed.damaged.reduce((n, d) => n + d.lostFrames, 0)).toBe(lost);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes are never taken for frames', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (junk) => {
        const parsed = parseSegment(Buffer.concat([Buffer.from('GSJ2'), junk, Buffer.from('GSJ2'), junk]));
        expect(parsed.entries).toEqual([]);
        expect(parsed.frames).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('a frame with a number not above the last one (stale bytes) is not replayed', () => {
    const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 's1');
    const a = frames([changeBody(key, 1, encode(record('s1', 1, {})))], 0);
    const b = frames([changeBody(key, 2, encode(record('s1', 2, {})))], 1);
    const stale = frames([changeBody(key, 9, encode(record('s1', 9, {})))], 0);
    const parsed = parseSegment(Buffer.concat([a, b, Buffer.from('junk'), stale]));
    expect(parsed.entries.map((e) => e.rev)).toEqual([1, 2]);
    expect(parsed.tornTail).toEqual({ offset: a.length + b.length, bytes: 4 + stale.length });
  });

  it('a frame whose body is valid CBOR but not a well-formed entry (a bad id, another shape) is damage', () => {
    const good = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 's1');
    const bad = [
      Buffer.concat([Buffer.from([0x86]), encode('../etc'), encode('prod'), encode('support'), encode('s1'), encode(1), Buffer.from([0xf6])]),
      Buffer.concat([Buffer.from([0x86]), encode('acme'), encode('prod'), encode('support'), encode('s1'), encode(-1), Buffer.from([0xf6])]),
      encode({ key: 'x' }),
      Buffer.concat([Buffer.from([0x86]), encode('acme'), encode('prod'), encode('support'), encode('s1'), encode(1), encode(record('s2', 1, {}))]),
    ];
    for (const body of bad) {
      const parsed = parseSegment(Buffer.concat([frames([body], 0), frames([changeBody(good, 5, null)], 1)]));
      expect(parsed.entries).toEqual([{ key: good, rev: 5, record: null }]);
      expect(parsed.damaged).toHaveLength(1);
    }
  });

  it('a store replaying a segment torn at any point has every acknowledged change', async () => {
    await fc.assert(
      fc.asyncProperty(entriesArb, fc.nat(), async (entries, cutSeed) => {
        const t = tempDir('greentic-replay-');
        cleanups.push(t.cleanup);
        const { bytes, ends } = segment(entries);
        // Acknowledged: the frames written whole before the crash; the cut falls in the next one.
        const acked = 1 + (cutSeed % entries.length);
        const cut = acked === entries.length ? bytes.length : ends[acked - 1]! + (cutSeed % (ends[acked]! - ends[acked - 1]!));
        const dir = join(t.dir, 'sessions', '.journal');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, '999999999-0badf00d-000000.log'), bytes.subarray(0, cut));
        const store = await FileSessionStore.open(t.dir);
        try {
          const latest = new Map<string, JournalEntry>();
          for (const e of entries.slice(0, acked)) latest.set(e.key.session, e);
          for (const [session, e] of latest) {
            const got = await store.get(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, session));
            if (e.record === null) expect(got).toBeNull();
            else expect(got).toEqual({ revision: e.rev, record: e.record });
          }
          await store.flush();
          // The checkpoint wrote them: the segment is gone.
          expect(() => readFileSync(join(dir, '999999999-0badf00d-000000.log'))).toThrow(/ENOENT/);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
