import { readFileSync, readdirSync, writeFileSync, mkdirSync, copyFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decode, encode } from 'cbor-x';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { sessionKey } from '../../dist/stores/keys.js';
import { FileSessionStore } from '../../dist/stores/file-session-store.js';
import { parseSegment, SessionJournal } from '../../dist/stores/session-journal.js';
import { CorruptSessionError, RevisionConflictError, type SessionRecord } from '../../dist/stores/session-store.js';
import { tempDir } from '../support/bundle.js';

const cleanups: Array<() => void> = [];
const opened: FileSessionStore[] = [];
afterEach(async () => {
  // A store holds its journal segment open (and one made ahead): close each before its folder goes.
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  cleanups.splice(0).forEach((c) => c());
});
function open(dir: string): FileSessionStore {
  const s = new FileSessionStore(dir);
  opened.push(s);
  return s;
}
function store(): { dir: string; store: FileSessionStore } {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return { dir: t.dir, store: open(t.dir) };
}
const key = sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, 's1');
function record(over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    v: 1,
    tenant: 'acme',
    env: 'prod',
    team: 'support',
    session: 's1',
    channel: 'slack',
    user: 'u1',
    cursor: null,
    state: {},
    created_at: 1,
    updated_at: 1,
    turns: 0,
    recent_messages: [],
    ...over,
  };
}
/** A journal segment as a dead process would have left it. */
function deadSegment(dir: string, entries: object[], tail = Buffer.alloc(0)): string {
  const jdir = join(dir, 'sessions', '.journal');
  mkdirSync(jdir, { recursive: true });
  const frames = entries.map((e) => {
    const body = encode(e);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(body.length, 0);
    head.writeUInt32LE(crc32(body), 4);
    return Buffer.concat([head, body]);
  });
  const file = join(jdir, '999999999-deadbeef-000000.log');
  writeFileSync(file, Buffer.concat([...frames, tail]));
  return file;
}

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
    const journal = join(dir, 'sessions', '.journal');
    expect(readdirSync(journal).map((f) => statSync(join(journal, f)).size)).toEqual(readdirSync(journal).map(() => 0));
    expect(readdirSync(journal).flatMap((f) => parseSegment(readFileSync(join(journal, f))))).toEqual([]);
    await s.close();
    expect(readdirSync(journal)).toEqual([]);
    // Another store (another process) reads it from the file.
    expect((await open(dir).get(key))!.record.state).toEqual({ name: 'Ann' });
  });

  it('makes an update durable in the journal before it resolves', async () => {
    const { dir, store: s } = store();
    await s.put(key, record({ turns: 7 }), 0);
    const segments = readdirSync(join(dir, 'sessions', '.journal'));
    expect(segments).toHaveLength(1);
    const entries = parseSegment(readFileSync(join(dir, 'sessions', '.journal', segments[0]!)));
    expect(entries).toMatchObject([{ key: { tenant: 'acme', session: 's1' }, rev: 1, record: { turns: 7 } }]);
  });

  it('journal: an append made the moment the previous one is durable is written too', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const journal = new SessionJournal(join(t.dir, 'journal'));
    const entry = (n: number) => ({ key: sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, `s${n}`), rev: 1, record: null });
    const within = <T>(p: Promise<T>, what: string) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} still waiting after 5 s`)), 5000))]);
    // Each append is made in the reaction to the previous one's resolution (as a turn's next
    // update can be), with no step between; none may wait for a flush that has finished.
    const chain = (n: number): Promise<void> => journal.append(entry(n)).then(() => (n < 5 ? chain(n + 1) : undefined));
    await within(chain(1), 'the chain of appends');
    await journal.close();
    const [segment] = readdirSync(join(t.dir, 'journal'));
    expect(parseSegment(readFileSync(join(t.dir, 'journal', segment!))).map((e) => e.key.session)).toEqual(['s1', 's2', 's3', 's4', 's5']);
  });

  it('replays what a dead process left in its journal, ignoring a torn tail', async () => {
    const { dir } = store();
    const file = deadSegment(
      dir,
      [
        { key, rev: 1, record: record({ turns: 1 }) },
        { key, rev: 2, record: record({ turns: 2 }) },
      ],
      Buffer.from([40, 0, 0, 0, 1, 2, 3]),
    );
    const s = open(dir);
    const got = await s.get(key);
    expect(got).toMatchObject({ revision: 2, record: { turns: 2 } });
    expect(existsSync(file)).toBe(false);
    expect(existsSync(join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor'))).toBe(true);
    expect(await s.put(key, record({ turns: 3 }), 2)).toBe(3);
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
    const many = await Promise.all(
      Array.from({ length: 200 }, (_, i) => s.put(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, `m${i}`), record({ session: `m${i}` }), 0)),
    );
    expect(many.every((rev) => rev === 1)).toBe(true);
  });

  it("lists, pages and deletes one team's sessions", async () => {
    const { store: s } = store();
    for (const id of ['s3', 's1', 's2']) await s.put(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, id), record({ session: id }), 0);
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

  it('refuses a session file moved under another tenant, and a corrupt one', async () => {
    const { dir, store: s } = store();
    await s.put(key, record(), 0);
    await s.close();
    const other = join(dir, 'sessions', 'bigcorp', 'prod', 'support');
    mkdirSync(other, { recursive: true });
    copyFileSync(join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor'), join(other, 's1.cbor'));
    await expect(open(dir).get(sessionKey({ tenant: 'bigcorp', env: 'prod', team: 'support' }, 's1'))).rejects.toThrowError(CorruptSessionError);
    writeFileSync(join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor'), Buffer.from([0xff, 0x00, 0x12]));
    await expect(open(dir).get(key)).rejects.toThrowError(CorruptSessionError);
  });

  it('refuses a record that does not match its key', async () => {
    const { store: s } = store();
    await expect(s.put(key, record({ tenant: 'bigcorp' }), 0)).rejects.toThrowError(CorruptSessionError);
  });
});
