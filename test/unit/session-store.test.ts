import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode } from 'cbor-x';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { sessionKey } from '../../dist/stores/keys.js';
import { FileSessionStore, type FileSessionStoreOptions } from '../../dist/stores/file-session-store.js';
import { changeBody, frames, parseSegment } from '../../dist/stores/journal-frame.js';
import { SessionJournal } from '../../dist/stores/session-journal.js';
import { CorruptSessionError, RevisionConflictError, type SessionRecord } from '../../dist/stores/session-store.js';
import { SessionCache, type CachedSession } from '../../dist/stores/session-cache.js';
import { encodeRecord } from '../../dist/stores/session-codec.js';
import { tempDir } from '../support/bundle.js';
import { sessionRecord } from '../support/session-record.js';
import { FaultyFs } from '../support/fault-fs.js';

const cleanups: Array<() => void> = [];
const opened: FileSessionStore[] = [];
afterEach(async () => {
  // A store holds its journal segment open (and one made ahead): close each before its folder goes.
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  cleanups.splice(0).forEach((c) => c());
});
function open(dir: string, opts: FileSessionStoreOptions = {}): FileSessionStore {
  const s = new FileSessionStore(dir, opts);
  opened.push(s);
  return s;
}
function store(opts: FileSessionStoreOptions = {}): { dir: string; store: FileSessionStore } {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return { dir: t.dir, store: open(t.dir, opts) };
}
const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 's1');
const keyOf = (id: string) => sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, id);
const record = sessionRecord;
/** A journal segment as a dead process would have left it. */
function deadSegment(dir: string, entries: Array<{ key: typeof key; rev: number; record: SessionRecord | null }>, tail = Buffer.alloc(0)): string {
  const jdir = join(dir, 'sessions', '.journal');
  mkdirSync(jdir, { recursive: true });
  const bodies = entries.map((e) => changeBody(e.key, e.rev, e.record ? encode(e.record) : null));
  const file = join(jdir, '999999999-deadbeef-000000.log');
  writeFileSync(file, Buffer.concat([frames(bodies, 0), tail]));
  return file;
}
const journalDir = (dir: string) => join(dir, 'sessions', '.journal');
const segmentsOf = (dir: string) => readdirSync(journalDir(dir)).map((f) => join(journalDir(dir), f));

describe('the file session store', () => {
  it('writes CBOR at sessions/{tenant}/{env}/{team}/{session}.cbor', async () => {
    const { dir, store: s } = store();
    expect(await s.put(key, record({ state: { name: 'Ann' } }), 0)).toBe(1);
    expect((await s.get(key))!.record.state).toEqual({ name: 'Ann' });
    await s.flush();
    const file = join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor');
    const onDisk = decode(readFileSync(file)) as { rev: number; record: SessionRecord };
    expect(onDisk.rev).toBe(1);
    expect(onDisk.record.state).toEqual({ name: 'Ann' });
    // No temp files are left behind by the atomic write, and the segment that held the update
    // is gone: what is left are segments made ahead for the next writes, empty.
    expect(readdirSync(join(dir, 'sessions', 'acme', 'prod', 'support'))).toEqual(['s1.cbor']);
    expect(segmentsOf(dir).map((f) => statSync(f).size)).toEqual(segmentsOf(dir).map(() => 0));
    await s.close();
    expect(readdirSync(journalDir(dir))).toEqual([]);
    // Another store (another process) reads it from the file.
    expect((await open(dir).get(key))!.record.state).toEqual({ name: 'Ann' });
  });

  it('makes an update durable in the journal before it resolves', async () => {
    const { dir, store: s } = store();
    await s.put(key, record({ turns: 7 }), 0);
    const written = segmentsOf(dir).filter((f) => statSync(f).size > 0);
    expect(written).toHaveLength(1);
    const parsed = parseSegment(readFileSync(written[0]!));
    expect(parsed).toMatchObject({ frames: 1, damaged: [], tornTail: null });
    expect(parsed.entries).toMatchObject([{ key: { tenant: 'acme', session: 's1' }, rev: 1, record: { turns: 7 } }]);
  });

  it('encodes a record once: the journal frame and the session file hold the same bytes', async () => {
    const { dir, store: s } = store();
    const r = record({ state: { a: 'x'.repeat(300) }, turns: 3 });
    await s.put(key, r, 0);
    const [segment] = segmentsOf(dir).filter((f) => statSync(f).size > 0);
    const frame = readFileSync(segment!);
    await s.flush();
    const file = readFileSync(join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor'));
    const recordBytes = encode(r);
    // Both end with the record's CBOR, byte for byte.
    expect(frame.subarray(frame.length - recordBytes.length).equals(recordBytes)).toBe(true);
    expect(file.subarray(file.length - recordBytes.length).equals(recordBytes)).toBe(true);
  });

  it('journal: an append made the moment the previous one is durable is written too', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const journal = new SessionJournal(join(t.dir, 'journal'));
    const body = (n: number) => changeBody(keyOf(`s${n}`), 1, null);
    const within = <T>(p: Promise<T>, what: string) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} still waiting after 5 s`)), 5000))]);
    // Each append is made in the reaction to the previous one's resolution (as a turn's next
    // update can be), with no step between; none may wait for a flush that has finished.
    const chain = (n: number): Promise<void> => journal.append(body(n)).then(() => (n < 5 ? chain(n + 1) : undefined));
    await within(chain(1), 'the chain of appends');
    await journal.close();
    // Closed with changes no checkpoint covered: left for the next store to replay.
    const [segment] = readdirSync(join(t.dir, 'journal'));
    expect(segment).toMatch(/^left-\d+-[0-9a-f]{8}-000000\.log$/);
    expect(parseSegment(readFileSync(join(t.dir, 'journal', segment!))).entries.map((e) => e.key.session)).toEqual(['s1', 's2', 's3', 's4', 's5']);
  });

  it('replays what a dead process left in its journal, cutting off a torn tail', async () => {
    const { dir } = store();
    const file = deadSegment(
      dir,
      [
        { key, rev: 1, record: record({ turns: 1 }) },
        { key, rev: 2, record: record({ turns: 2 }) },
      ],
      Buffer.from('GSJ2\x28\x00\x00\x00\x02', 'latin1'),
    );
    const s = open(dir);
    const got = await s.get(key);
    expect(got).toMatchObject({ revision: 2, record: { turns: 2 } });
    // The torn tail is cut off at once; the segment goes once a checkpoint holds its sessions.
    expect(parseSegment(readFileSync(file))).toMatchObject({ frames: 2, tornTail: null });
    await s.flush();
    expect(existsSync(file)).toBe(false);
    expect(existsSync(join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor'))).toBe(true);
    expect(await s.put(key, record({ turns: 3 }), 2)).toBe(3);
  });

  it('replay keeps a session file that is newer than the journal', async () => {
    const { dir, store: s } = store();
    await s.put(key, record({ turns: 5 }), 0);
    await s.put(key, record({ turns: 6 }), 1);
    await s.close();
    deadSegment(dir, [{ key, rev: 1, record: record({ turns: 1 }) }]);
    expect(await open(dir).get(key)).toMatchObject({ revision: 2, record: { turns: 6 } });
  });

  it('a store closed before its checkpoint leaves its journal to the next store, in the same process', async () => {
    const fs = new FaultyFs();
    const { dir, store: s } = store({ fs });
    await s.put(key, record({ turns: 4 }), 0);
    // The final checkpoint cannot rename session files: the change stays in the journal only.
    fs.renameError = 'EIO';
    fs.faultPaths = /\.cbor\.tmp-/;
    await s.close();
    fs.heal();
    expect(await open(dir).get(key)).toMatchObject({ revision: 1, record: { turns: 4 } });
  });

  it('compare-and-set: a stale revision loses', async () => {
    const { store: s } = store();
    await s.put(key, record(), 0);
    await s.put(key, record({ turns: 1 }), 1);
    await expect(s.put(key, record({ turns: 9 }), 1)).rejects.toThrowError(RevisionConflictError);
    await expect(s.put(key, record(), 0)).rejects.toThrowError(RevisionConflictError);
    expect((await s.get(key))!.record.turns).toBe(1);
  });

  it('racing writers on one revision: exactly one wins; many sessions commit together', async () => {
    const { store: s } = store();
    await s.put(key, record(), 0);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => s.put(key, record({ turns: i }), 1)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof RevisionConflictError)).toBe(true);
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => s.put(keyOf(`m${i}`), record({ session: `m${i}` }), 0)));
    expect(many.every((rev) => rev === 1)).toBe(true);
  });

  it("lists, pages and deletes one team's sessions", async () => {
    const { store: s } = store();
    for (const id of ['s3', 's1', 's2']) await s.put(keyOf(id), record({ session: id }), 0);
    expect(await s.list({ tenant: 'acme', env: 'prod', team: 'support' })).toEqual(['s1', 's2', 's3']);
    expect(await s.list({ tenant: 'acme', env: 'prod', team: 'support' }, { after: 's1', limit: 1 })).toEqual(['s2']);
    expect(await s.list({ tenant: 'bigcorp', env: 'prod', team: 'support' })).toEqual([]);
    await s.flush();
    expect(await s.delete(key)).toBe(true);
    expect(await s.delete(key)).toBe(false);
    expect(await s.get(key)).toBeNull();
    expect(await s.list({ tenant: 'acme', env: 'prod', team: 'support' })).toEqual(['s2', 's3']);
    await s.put(key, record(), 0);
    expect((await s.get(key))!.revision).toBeGreaterThan(1);
  });

  it('refuses a record that does not match its key', async () => {
    const { store: s } = store();
    await expect(s.put(key, record({ tenant: 'bigcorp' }), 0)).rejects.toThrowError(CorruptSessionError);
  });

  it('a checkpoint writes only the sessions that changed, each once however often it changed', async () => {
    const fs = new FaultyFs();
    const { dir, store: s } = store({ fs, checkpointMs: 60_000 });
    for (const id of ['a', 'b', 'c']) await s.put(keyOf(id), record({ session: id }), 0);
    await s.flush();
    const inode = (id: string) => statSync(join(dir, 'sessions', 'acme', 'prod', 'support', `${id}.cbor`)).ino;
    const before = { a: inode('a'), b: inode('b'), c: inode('c') };
    const renames = fs.calls.rename;
    for (let rev = 1; rev <= 10; rev++) await s.put(keyOf('b'), record({ session: 'b', turns: rev }), rev);
    await s.flush();
    expect(fs.calls.rename - renames).toBe(1);
    expect(inode('a')).toBe(before.a);
    expect(inode('c')).toBe(before.c);
    expect(inode('b')).not.toBe(before.b);
    expect((decode(readFileSync(join(dir, 'sessions', 'acme', 'prod', 'support', 'b.cbor'))) as { rev: number }).rev).toBe(11);
  });

  it("looks for a new conversation's file once: the write after the read that found none does not look again", async () => {
    const fs = new FaultyFs();
    const { dir, store: s } = store({ fs, checkpointMs: 60_000 });
    // The journal's first segment is opened by the first write: make it before counting.
    await s.put(keyOf('first'), record({ session: 'first' }), 0);
    const opens = fs.calls.open;
    expect(await s.get(keyOf('new'))).toBeNull();
    expect(fs.calls.open - opens).toBe(1);
    expect(await s.put(keyOf('new'), record({ session: 'new' }), 0)).toBe(1);
    expect((await s.get(keyOf('new')))!.revision).toBe(1);
    expect(fs.calls.open - opens).toBe(1);
    // Found absent is not a session: not listed, not deletable, no file at the checkpoint.
    expect(await s.get(keyOf('ghost'))).toBeNull();
    expect(await s.delete(keyOf('ghost'))).toBe(false);
    expect(await s.list({ tenant: 'acme', env: 'prod', team: 'support' })).toEqual(['first', 'new']);
    await s.flush();
    expect(readdirSync(join(dir, 'sessions', 'acme', 'prod', 'support')).sort()).toEqual(['first.cbor', 'new.cbor']);
    await expect(s.put(keyOf('ghost'), record({ session: 'ghost' }), 1)).rejects.toThrowError(RevisionConflictError);
  });

  it('checkpoints on its own once the journal passes checkpointBytes', async () => {
    const { dir, store: s } = store({ checkpointMs: 60_000, checkpointBytes: 4096 });
    for (let i = 0; i < 40; i++) await s.put(keyOf(`k${i}`), record({ session: `k${i}`, state: { pad: 'p'.repeat(200) } }), 0);
    const file = join(dir, 'sessions', 'acme', 'prod', 'support', 'k0.cbor');
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(file)).toBe(true);
  });
});

describe('the session cache', () => {
  it('is bounded by bytes as well as by count; sessions it dropped are read back from their files', async () => {
    const { store: s } = store({ cacheBytes: 64 * 1024, cacheSize: 100_000 });
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 300; i++) await s.put(keyOf(`b${i}`), record({ session: `b${i}`, state: { big } }), 0);
    await s.flush();
    const m = s.memory();
    expect(m.waiting).toBe(0);
    expect(m.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(m.sessions).toBeLessThan(300);
    expect((await s.get(keyOf('b0')))!.record.state.big).toBe(big);
  });

  it('is bounded by count', async () => {
    const { store: s } = store({ cacheSize: 50 });
    for (let i = 0; i < 120; i++) await s.put(keyOf(`c${i}`), record({ session: `c${i}` }), 0);
    await s.flush();
    expect(s.memory().sessions).toBeLessThanOrEqual(50);
    expect((await s.get(keyOf('c1')))!.revision).toBe(1);
  });

  it('does not walk its pinned entries on every change while none can be dropped, and drops them once they are unpinned', () => {
    const pinned = new Set<string>();
    let asked = 0;
    const cache = new SessionCache({ maxEntries: 100 }, (id) => {
      asked++;
      return pinned.has(id);
    });
    const entry = (id: string, rev: number): CachedSession => ({ key: keyOf(id), rev, bytes: Buffer.alloc(10), form: 'record', record: undefined });
    // 1000 sessions waiting for their checkpoint (pinned), 10 turns each: the cache is over its count and can drop none.
    for (let i = 0; i < 1000; i++) pinned.add(`p${i}`);
    for (let rev = 1; rev <= 10; rev++) for (let i = 0; i < 1000; i++) cache.set(`p${i}`, entry(`p${i}`, rev));
    expect(cache.size).toBe(1000);
    // A pass over every pinned entry at each change would be 10,000 changes x up to 1000 entries.
    expect(asked).toBeLessThan(30_000);
    pinned.clear();
    cache.unpinned();
    expect(cache.size).toBe(100);
  });

  it('refuses writes while too many changes wait for a checkpoint that fails, and takes them again once it works', async () => {
    const fs = new FaultyFs();
    const { store: s } = store({ fs, checkpointMs: 60_000, maxBacklogBytes: 8 * 1024 });
    fs.renameError = 'EIO';
    const pad = 'y'.repeat(1024);
    let i = 0;
    let refusal: unknown;
    for (; i < 100 && !refusal; i++) await s.put(keyOf(`w${i}`), record({ session: `w${i}`, state: { pad } }), 0).catch((e: unknown) => (refusal = e));
    expect(String(refusal)).toBe(
      `StoreUnavailableError: session w${i - 1} could not be saved (too many changes are waiting to be written to the session files); nothing was changed, try again later`,
    );
    fs.heal();
    await s.flush();
    expect(await s.put(keyOf(`w${i - 1}`), record({ session: `w${i - 1}` }), 0)).toBe(1);
  });
});

describe('the session codec', () => {
  const line = fc.record({ from: fc.constantFrom('user' as const, 'bot' as const), text: fc.string({ unit: 'binary', maxLength: 40 }), at: fc.integer() });
  const lines = fc.array(line, { maxLength: 300 });

  it('encodes a record exactly as cbor-x does, turn after turn, though it encodes only the transcript lines it has not seen', () => {
    fc.assert(
      fc.property(lines, fc.array(lines, { minLength: 1, maxLength: 4 }), fc.boolean(), (first, turns, transcriptFirst) => {
        let transcript = first;
        for (const added of [[], ...turns]) {
          // As the executor makes them: the previous turn's lines (the same objects), then the new ones, the oldest dropped.
          transcript = [...transcript, ...added].slice(-250);
          const base = record({ state: { n: String(transcript.length) }, recent_messages: ['m1', 'm2'], last_turn: { id: 'm2', outbox: [] } });
          const r = transcriptFirst ? { transcript, ...base } : { ...base, transcript };
          const bytes = encodeRecord(r);
          expect(Buffer.compare(bytes, Buffer.from(encode(r)))).toBe(0);
          expect(decode(bytes)).toEqual(r);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('freezes a line once its bytes are kept, so they cannot go stale', () => {
    const lines = Array.from({ length: 10 }, (_, i) => ({ from: 'user' as const, text: `line ${i}`, at: i }));
    encodeRecord(record({ transcript: lines }));
    expect(lines.every((l) => Object.isFrozen(l))).toBe(true);
    expect(() => {
      (lines[0] as { text: string }).text = 'changed';
    }).toThrowError(TypeError);
  });
});
