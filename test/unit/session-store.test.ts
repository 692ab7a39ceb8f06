import { readFileSync, readdirSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode } from 'cbor-x';
import { afterEach, describe, expect, it } from 'vitest';
import { sessionKey } from '../../dist/stores/keys.js';
import { CorruptSessionError, FileSessionStore, RevisionConflictError, type SessionRecord } from '../../dist/stores/session-store.js';
import { tempDir } from '../support/bundle.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function store(): { dir: string; store: FileSessionStore } {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return { dir: t.dir, store: new FileSessionStore(t.dir) };
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

describe('the file session store', () => {
  it('writes CBOR at sessions/{tenant}/{env}/{team}/{session}.cbor', async () => {
    const { dir, store: s } = store();
    expect(await s.put(key, record({ state: { name: 'Ann' } }), 0)).toBe(1);
    const file = join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor');
    const onDisk = decode(readFileSync(file)) as { rev: number; record: SessionRecord };
    expect(onDisk.rev).toBe(1);
    expect(onDisk.record.state).toEqual({ name: 'Ann' });
    expect((await s.get(key))!.record.state).toEqual({ name: 'Ann' });
    // No temp files are left behind by the atomic write.
    expect(readdirSync(join(dir, 'sessions', 'acme', 'prod', 'support'))).toEqual(['s1.cbor']);
  });

  it('compare-and-set: a stale revision loses', async () => {
    const { store: s } = store();
    await s.put(key, record(), 0);
    await s.put(key, record({ turns: 1 }), 1);
    await expect(s.put(key, record({ turns: 9 }), 1)).rejects.toThrowError(RevisionConflictError);
    await expect(s.put(key, record(), 0)).rejects.toThrowError(RevisionConflictError);
    expect((await s.get(key))!.record.turns).toBe(1);
  });

  it('racing writers on one revision: exactly one wins', async () => {
    const { store: s } = store();
    await s.put(key, record(), 0);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => s.put(key, record({ turns: i }), 1)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof RevisionConflictError)).toBe(true);
  });

  it("lists, pages and deletes one team's sessions", async () => {
    const { store: s } = store();
    for (const id of ['s3', 's1', 's2']) await s.put(sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, id), record({ session: id }), 0);
    expect(await s.list({ tenant: 'acme', env: 'prod', team: 'support' })).toEqual(['s1', 's2', 's3']);
    expect(await s.list({ tenant: 'acme', env: 'prod', team: 'support' }, { after: 's1', limit: 1 })).toEqual(['s2']);
    expect(await s.list({ tenant: 'bigcorp', env: 'prod', team: 'support' })).toEqual([]);
    expect(await s.delete(key)).toBe(true);
    expect(await s.delete(key)).toBe(false);
    expect(await s.get(key)).toBeNull();
  });

  it('refuses a session file moved under another tenant, and a corrupt one', async () => {
    const { dir, store: s } = store();
    await s.put(key, record(), 0);
    const other = join(dir, 'sessions', 'bigcorp', 'prod', 'support');
    mkdirSync(other, { recursive: true });
    copyFileSync(join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor'), join(other, 's1.cbor'));
    await expect(s.get(sessionKey({ tenant: 'bigcorp', env: 'prod', team: 'support' }, 's1'))).rejects.toThrowError(CorruptSessionError);
    writeFileSync(join(dir, 'sessions', 'acme', 'prod', 'support', 's1.cbor'), Buffer.from([0xff, 0x00, 0x12]));
    await expect(s.get(key)).rejects.toThrowError(CorruptSessionError);
  });

  it('refuses a record that does not match its key', async () => {
    const { store: s } = store();
    await expect(s.put(key, record({ tenant: 'bigcorp' }), 0)).rejects.toThrowError(CorruptSessionError);
  });
});
