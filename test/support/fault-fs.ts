import type { Stats } from 'node:fs';
import { nodeFs, type StoreFileHandle, type StoreFs } from '../../dist/stores/store-fs.js';

/** An errno error as node's fs makes them. */
export function fsError(code: string, what: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: injected fault, ${what}`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

/**
 * The fake file-system layer of the fault tests: the real files, with faults injected where the
 * knobs say. Used where a small tmpfs cannot be mounted (not root), and for faults no real file
 * system produces on demand (a failing fsync, a failing truncate).
 */
export class FaultyFs implements StoreFs {
  /** Bytes writes may still add, over all files; a write past it is cut short, the next fails with ENOSPC. */
  spaceLeft = Infinity;
  /** Each write() writes at most this many bytes (a short write), without failing. */
  maxWriteBytes = Infinity;
  /** errno that datasync()/sync() fail with, or null. */
  syncError: string | null = null;
  /** errno that truncate() fails with, or null. */
  truncateError: string | null = null;
  /** errno that rename() fails with, or null. */
  renameError: string | null = null;
  /** errno that opening a file for writing fails with, or null. */
  openWriteError: string | null = null;
  /** Which paths open/rename faults apply to (default: all). */
  faultPaths: RegExp = /./;
  /** What was called, for assertions. */
  readonly calls = { open: 0, write: 0, shortWrites: 0, sync: 0, truncate: 0, rename: 0 };

  /** Give space back, and stop every injected fault. */
  heal(): void {
    this.spaceLeft = Infinity;
    this.maxWriteBytes = Infinity;
    this.syncError = this.truncateError = this.renameError = this.openWriteError = null;
    this.faultPaths = /./;
  }

  async open(path: string, flags: string | number, mode?: number): Promise<StoreFileHandle> {
    this.calls.open++;
    const writing = typeof flags === 'string' && /[wa+]/.test(flags);
    if (writing && this.openWriteError && this.faultPaths.test(path)) throw fsError(this.openWriteError, `open ${path}`);
    return this.#wrap(await nodeFs.open(path, flags, mode));
  }

  #wrap(fh: StoreFileHandle): StoreFileHandle {
    const fs = this;
    return {
      async write(buffer, offset, length, position) {
        fs.calls.write++;
        if (fs.spaceLeft <= 0) throw fsError('ENOSPC', 'no space left');
        let n = Math.min(length, fs.maxWriteBytes, fs.spaceLeft);
        if (n < length) fs.calls.shortWrites++;
        n = Math.max(n, 0);
        const r = await fh.write(buffer, offset, n, position);
        fs.spaceLeft -= r.bytesWritten;
        return r;
      },
      read: (b, o, l, p) => fh.read(b, o, l, p),
      stat: () => fh.stat(),
      async truncate(len) {
        fs.calls.truncate++;
        if (fs.truncateError) throw fsError(fs.truncateError, 'truncate');
        return fh.truncate(len);
      },
      async datasync() {
        fs.calls.sync++;
        if (fs.syncError) throw fsError(fs.syncError, 'fdatasync');
        return fh.datasync();
      },
      async sync() {
        fs.calls.sync++;
        if (fs.syncError) throw fsError(fs.syncError, 'fsync');
        return fh.sync();
      },
      close: () => fh.close(),
    };
  }

  readFile = (p: string): Promise<Buffer> => nodeFs.readFile(p);
  readdir = (p: string): Promise<string[]> => nodeFs.readdir(p);
  mkdir = (p: string, o: { recursive: true; mode?: number }): Promise<unknown> => nodeFs.mkdir(p, o);
  async rename(from: string, to: string): Promise<void> {
    this.calls.rename++;
    if (this.renameError && this.faultPaths.test(from)) throw fsError(this.renameError, `rename ${from}`);
    return nodeFs.rename(from, to);
  }
  link = (a: string, b: string): Promise<void> => nodeFs.link(a, b);
  rm = (p: string, o?: { force?: boolean; recursive?: boolean }): Promise<void> => nodeFs.rm(p, o);
  unlink = (p: string): Promise<void> => nodeFs.unlink(p);
  stat = (p: string): Promise<Stats> => nodeFs.stat(p);
  lstat = (p: string): Promise<Stats> => nodeFs.lstat(p);
}
