import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkDataDir } from '../../dist/stores/data-dir.js';
import { DataDirLock } from '../../dist/stores/data-dir-lock.js';
import { loadMasterKey, MasterKeyError } from '../../dist/stores/master-key.js';
import { DataDirError } from '../../dist/stores/storage-problem.js';
import { tempDir } from '../support/bundle.js';
import { FaultyFs } from '../support/fault-fs.js';
import { CAN_MOUNT, SmallDisk } from '../support/small-disk.js';

const cleanups: Array<() => void> = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);
function dir(): string {
  const t = tempDir('greentic-datadir-');
  cleanups.push(t.cleanup);
  return t.dir;
}

const FULL = CAN_MOUNT ? 'a full tmpfs' : 'the fake file-system layer with no space';

describe(`the master key on a full disk at first start (${FULL})`, () => {
  it('fails with one clear line and leaves no key file behind; the next start with space creates a whole one', async () => {
    let keyDir: string;
    let fs: FaultyFs | undefined;
    let free: () => void;
    if (CAN_MOUNT) {
      const disk = new SmallDisk(64);
      cleanups.push(() => disk.dispose());
      keyDir = join(disk.dir, 'data');
      mkdirSync(keyDir);
      disk.fill(0);
      free = () => disk.free();
    } else {
      keyDir = dir();
      fs = new FaultyFs();
      fs.spaceLeft = 0;
      free = () => fs!.heal();
    }
    const keyFile = join(keyDir, 'master.key');
    await expect(loadMasterKey(keyFile, {}, fs)).rejects.toThrowError(
      new MasterKeyError(`cannot create the master key file ${keyFile}: no space left on the device (ENOSPC)`),
    );
    // Neither an empty key file nor a temp file is left.
    expect(readdirSync(keyDir).filter((f) => !f.startsWith('.filler'))).toEqual([]);
    free();
    const key = await loadMasterKey(keyFile, {}, fs);
    expect(readFileSync(keyFile, 'utf8')).toBe(`${key.toString('hex')}\n`);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect((await loadMasterKey(keyFile, {}, fs)).equals(key)).toBe(true);
  });

  it('an empty key file an older version left is replaced (it never held a key)', async () => {
    const keyFile = join(dir(), 'master.key');
    writeFileSync(keyFile, '', { mode: 0o600 });
    const key = await loadMasterKey(keyFile, {});
    expect(readFileSync(keyFile, 'utf8')).toBe(`${key.toString('hex')}\n`);
  });

  it('a key file that holds something else is never replaced', async () => {
    const keyFile = join(dir(), 'master.key');
    writeFileSync(keyFile, 'abc\n', { mode: 0o600 });
    await expect(loadMasterKey(keyFile, {})).rejects.toThrowError(`master key file ${keyFile} must hold a 32-byte key as 64 hex digits or base64`);
    expect(readFileSync(keyFile, 'utf8')).toBe('abc\n');
  });

  it('processes racing to create it all end up with the same key', async () => {
    const keyFile = join(dir(), 'master.key');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadMasterKey(keyFile, {})));
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(1);
  });
});

describe('checking the data directory at start', () => {
  it('creates a missing one; a file in its place is one clear line', async () => {
    const d = join(dir(), 'new', 'data');
    expect(await checkDataDir(d)).toEqual({ diskFull: false });
    expect(statSync(d).isDirectory()).toBe(true);
    const f = join(dir(), 'file');
    writeFileSync(f, 'x');
    await expect(checkDataDir(f)).rejects.toThrowError(new DataDirError(`data directory ${f} is not a directory; choose another with --data`));
    await expect(checkDataDir(join(f, 'below'))).rejects.toThrowError(
      new DataDirError(
        `data directory ${join(f, 'below')} cannot be created: a directory is missing or is not a directory (ENOTDIR); a part of its path is not a directory; choose another with --data`,
      ),
    );
  });

  it('a folder inside it that cannot be written is named with the data directory', async () => {
    const d = dir();
    mkdirSync(join(d, 'sessions'));
    const fs = new FaultyFs();
    fs.openWriteError = 'EROFS';
    fs.faultPaths = /sessions/;
    await expect(checkDataDir(d, fs)).rejects.toThrowError(
      new DataDirError(
        `${join(d, 'sessions')} (in data directory ${d}) cannot be written: the file system is read-only (EROFS); remount it read-write, or choose another with --data`,
      ),
    );
  });

  it('a full disk is not a reason to refuse a start (the host recovers by itself)', async () => {
    const fs = new FaultyFs();
    fs.spaceLeft = 0;
    expect(await checkDataDir(dir(), fs)).toEqual({ diskFull: true });
  });
});

/** The lock file now (the highest generation in greentic.lock/), or undefined. */
function lockFile(d: string): string | undefined {
  const dir = join(d, 'greentic.lock');
  const names = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => /^\d{9}$/.test(n))
        .sort()
    : [];
  return names.length ? join(dir, names.at(-1)!) : undefined;
}
/** Leave a lock as a holder that is gone (or elsewhere) would have. */
function plantLock(d: string, holder: object): string {
  mkdirSync(join(d, 'greentic.lock'), { recursive: true });
  const f = join(d, 'greentic.lock', '000000007');
  writeFileSync(f, JSON.stringify(holder));
  return f;
}

describe('the data directory lock', () => {
  it('one holder; released, it can be taken again; a lock of a process that is gone is taken over', async () => {
    const d = dir();
    const a = await DataDirLock.acquire(d);
    expect(a.tookOverFrom).toBeUndefined();
    expect(a.file).toBe(join(d, 'greentic.lock', '000000001'));
    const held = JSON.parse(readFileSync(a.file, 'utf8'));
    expect(held).toMatchObject({ pid: process.pid, host: hostname(), nonce: expect.stringMatching(/^[0-9a-f]{16}$/) });
    await a.release();
    expect(lockFile(d)).toBeUndefined();
    plantLock(d, { ...held, pid: 999_999_999, nonce: 'feedfacefeedface' });
    const b = await DataDirLock.acquire(d);
    expect(b.tookOverFrom).toBe(999_999_999);
    // The next generation; nothing left beside it: no temp file, no stale generation.
    expect(b.file).toBe(join(d, 'greentic.lock', '000000008'));
    expect(readdirSync(join(d, 'greentic.lock'))).toEqual(['000000008']);
    await b.release();
  });

  it('a lock held on another host is not taken over: it cannot be checked from here', async () => {
    const d = dir();
    const f = plantLock(d, { pid: 1, host: 'elsewhere', started: null, since: '2026-01-01T00:00:00.000Z', nonce: 'aa' });
    await expect(DataDirLock.acquire(d)).rejects.toThrowError(
      new DataDirError(
        `data directory ${d} is in use by another greentic-host (pid 1 on host elsewhere, since 2026-01-01T00:00:00.000Z); stop it first, or use another --data (if that host is gone, delete ${f})`,
      ),
    );
  });

  it('a lock whose pid runs but is another process (its start time differs: the pid was reused) is taken over', async () => {
    const d = dir();
    plantLock(d, { pid: 1, host: hostname(), started: '1', since: 'x', nonce: 'bb' });
    const lock = await DataDirLock.acquire(d);
    expect(lock.tookOverFrom).toBe(1);
    await lock.release();
  });

  it('processes racing over one stale lock: exactly one takes it, the others are told who has it', async () => {
    const d = dir();
    plantLock(d, { pid: 999_999_998, host: hostname(), started: null, since: 'x', nonce: 'cc' });
    const script = `
      const { DataDirLock } = await import(${JSON.stringify(new URL('../../dist/stores/data-dir-lock.js', import.meta.url).href)});
      try { await DataDirLock.acquire(process.argv[1]); console.log('won'); } catch (e) { console.log(e.name); }
      setTimeout(() => {}, 30000);`;
    const children = Array.from({ length: 6 }, () =>
      spawn(process.execPath, ['--input-type=module', '-e', script, d], { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    // Each holds on (alive) until every one has answered: a winner that died would be stale again.
    const outs = await Promise.all(
      children.map(
        (child) =>
          new Promise<string>((resolve) => {
            let out = '';
            child.stdout.on('data', (b: Buffer) => {
              out += b.toString();
              if (out.endsWith('\n')) resolve(out.trim());
            });
          }),
      ),
    );
    for (const c of children) c.kill();
    expect(outs.sort()).toEqual(['DataDirError', 'DataDirError', 'DataDirError', 'DataDirError', 'DataDirError', 'won']);
    expect(readdirSync(join(d, 'greentic.lock'))).toEqual(['000000008']);
  });
});
