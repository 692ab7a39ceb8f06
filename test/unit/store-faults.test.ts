import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSessionStore, type FileSessionStoreOptions } from '../../dist/stores/file-session-store.js';
import { parseSegment } from '../../dist/stores/journal-frame.js';
import { sessionKey } from '../../dist/stores/keys.js';
import type { SessionRecord } from '../../dist/stores/session-store.js';
import { tempDir } from '../support/bundle.js';
import { sessionRecord } from '../support/session-record.js';
import { FaultyFs } from '../support/fault-fs.js';
import { memoryLogger } from '../support/logs.js';

/**
 * Faults a disk can have, injected with the fake file-system layer (test/support/fault-fs.ts):
 * short writes, a full disk mid-frame, failing fsync and truncate, failing checkpoints. The same
 * faults on a real small tmpfs are in test/integration/disk-faults.test.ts.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const keyOf = (id: string) => sessionKey({ tenant: 'acme', env: 'prod', team: 'support' }, id);
function record(session: string, turns = 0): SessionRecord {
  return sessionRecord({ session, turns, state: { t: String(turns) } });
}

function faultyStore(opts: FileSessionStoreOptions = {}) {
  const t = tempDir('greentic-faults-');
  const fs = new FaultyFs();
  const logs = memoryLogger('debug');
  const failures: string[] = [];
  const store = new FileSessionStore(t.dir, {
    fs,
    logger: logs.logger,
    metrics: { storeFailure: (_s, op, problem) => failures.push(`${op}:${problem}`), sessionQuarantined: () => undefined },
    ...opts,
  });
  cleanups.push(t.cleanup, () => store.close());
  return { dir: t.dir, fs, logs, failures, store };
}

/** Every entry in the journal segments on disk, and whether any ends in a torn frame. */
function journal(dir: string) {
  const jdir = join(dir, 'sessions', '.journal');
  const parsed = readdirSync(jdir).map((f) => parseSegment(readFileSync(join(jdir, f))));
  return { sessions: parsed.flatMap((p) => p.entries.map((e) => `${e.key.session}@${e.rev}`)), torn: parsed.some((p) => p.tornTail !== null) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what}: not so after 10 s`);
}

const NO_SPACE = (s: string) => `session ${s} could not be saved (no space left on the device); nothing was changed, try again later`;

describe('the session store under disk faults (fake file-system layer)', () => {
  it('short writes are continued: each frame lands whole', async () => {
    const { dir, fs, store } = faultyStore();
    fs.maxWriteBytes = 7;
    for (let i = 1; i <= 5; i++) await store.put(keyOf(`s${i}`), record(`s${i}`), 0);
    expect(fs.calls.shortWrites).toBeGreaterThan(10);
    expect(journal(dir)).toEqual({ sessions: ['s1@1', 's2@1', 's3@1', 's4@1', 's5@1'], torn: false });
  });

  it('a full disk mid-frame: a clear retryable refusal, the torn frame cut off, counted and logged once; the next write after space returns works', async () => {
    const { dir, fs, logs, failures, store } = faultyStore();
    await store.put(keyOf('s1'), record('s1'), 0);
    fs.spaceLeft = 20; // part of the next frame's header and body
    await expect(store.put(keyOf('s2'), record('s2'), 0)).rejects.toThrowError(NO_SPACE('s2'));
    await expect(store.put(keyOf('s3'), record('s3'), 0)).rejects.toThrowError(NO_SPACE('s3'));
    // What is on disk is exactly what was acknowledged: no torn frame a later write could follow.
    expect(journal(dir)).toEqual({ sessions: ['s1@1'], torn: false });
    expect(store.health()).toMatchObject({ ok: false, problem: 'disk-full', failing: [{ op: 'append', problem: 'disk-full' }] });
    expect(failures.filter((f) => f === 'append:disk-full').length).toBeGreaterThanOrEqual(2);
    expect(logs.lines.filter((l) => l.event === 'store-failing')).toMatchObject([
      { op: 'append', problem: 'disk-full', msg: 'session store: append failed (no space left on the device); retrying until it works' },
    ]);
    expect(await store.get(keyOf('s2'))).toBeNull();
    fs.heal();
    expect(await store.put(keyOf('s2'), record('s2'), 0)).toBe(1);
    expect(store.health().ok).toBe(true);
    expect(logs.lines.filter((l) => l.event === 'store-recovered')).toMatchObject([{ op: 'append', msg: 'session store: append works again' }]);
    expect(journal(dir)).toEqual({ sessions: ['s1@1', 's2@1'], torn: false });
  });

  it('recovers by itself when space returns, with no write to try it: a probe retries with backoff', async () => {
    const { fs, store } = faultyStore();
    await store.put(keyOf('s1'), record('s1'), 0);
    fs.spaceLeft = 0;
    await expect(store.put(keyOf('s2'), record('s2'), 0)).rejects.toThrowError(NO_SPACE('s2'));
    expect(store.health().ok).toBe(false);
    fs.heal();
    await until(() => store.health().ok, 'healthy again');
  });

  it('a failing fsync is a refusal, and the unsynced frame is cut off', async () => {
    const { dir, fs, store } = faultyStore();
    await store.put(keyOf('s1'), record('s1'), 0);
    fs.syncError = 'EIO';
    await expect(store.put(keyOf('s2'), record('s2'), 0)).rejects.toThrowError(
      'session s2 could not be saved (an I/O error); nothing was changed, try again later',
    );
    fs.heal();
    expect(journal(dir)).toEqual({ sessions: ['s1@1'], torn: false });
    expect(await store.put(keyOf('s3'), record('s3'), 0)).toBe(1);
    expect(journal(dir)).toEqual({ sessions: ['s1@1', 's3@1'], torn: false });
  });

  it('when even the truncate fails, nothing more is written to that segment; the next checkpoint deletes it with the refused frame', async () => {
    const { dir, fs, store } = faultyStore();
    await store.put(keyOf('s1'), record('s1'), 0);
    fs.syncError = 'EIO';
    fs.truncateError = 'EIO';
    await expect(store.put(keyOf('refused'), record('refused'), 0)).rejects.toThrowError(/could not be saved \(an I\/O error\)/);
    fs.syncError = null; // the disk syncs again, but still cannot truncate: a new segment is taken
    expect(await store.put(keyOf('s2'), record('s2'), 0)).toBe(1);
    const jdir = join(dir, 'sessions', '.journal');
    const written = readdirSync(jdir).filter((f) => statSync(join(jdir, f)).size > 0);
    expect(written).toHaveLength(2);
    fs.heal();
    await store.flush();
    await store.close();
    const reopened = await FileSessionStore.open(dir);
    cleanups.push(() => reopened.close());
    expect(await reopened.get(keyOf('refused'))).toBeNull();
    expect((await reopened.get(keyOf('s1')))!.revision).toBe(1);
    expect((await reopened.get(keyOf('s2')))!.revision).toBe(1);
  });

  it('a journal segment that cannot be created is a refusal, not a crash; it works once it can', async () => {
    const { fs, store } = faultyStore();
    fs.openWriteError = 'ENOSPC';
    fs.faultPaths = /\.journal/;
    await expect(store.put(keyOf('s1'), record('s1'), 0)).rejects.toThrowError(NO_SPACE('s1'));
    fs.heal();
    expect(await store.put(keyOf('s1'), record('s1'), 0)).toBe(1);
  });

  it('a failing background checkpoint never crashes: logged, counted, retried with backoff, healthy once it works', async () => {
    const { dir, fs, failures, logs, store } = faultyStore({ checkpointMs: 20 });
    fs.renameError = 'EROFS';
    fs.faultPaths = /\.cbor\.tmp-/;
    await store.put(keyOf('s1'), record('s1'), 0);
    await until(() => failures.filter((f) => f === 'checkpoint:read-only').length >= 2, 'two failed checkpoints');
    expect(store.health()).toMatchObject({ ok: false, problem: 'read-only', failing: [{ op: 'checkpoint' }] });
    expect(logs.lines.filter((l) => l.event === 'store-failing' && l.op === 'checkpoint')).toHaveLength(1);
    // The turn was acknowledged: still served, from the journal and memory.
    expect((await store.get(keyOf('s1')))!.revision).toBe(1);
    fs.heal();
    await until(() => store.health().ok, 'the checkpoint to work again');
    expect(readdirSync(join(dir, 'sessions', 'acme', 'prod', 'support'))).toEqual(['s1.cbor']);
  });
});
