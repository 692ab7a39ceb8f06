import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { relative, isAbsolute } from 'node:path';
import type { Confinement } from './confinement.js';
import type { ConfigProblem } from './problems.js';

/** Largest YAML or JSON config file, manifest, pin or key file read (1 MiB). */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
/** Largest component binary read (256 MiB; a JS component is about 12 MB). */
export const MAX_COMPONENT_FILE_BYTES = 256 * 1024 * 1024;

/** How a config file is named in messages: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export type FileBytes = { ok: true; bytes: Buffer; real: string } | { ok: false; problems: ConfigProblem[] };

export interface ReadOptions {
  readonly maxBytes: number;
  /** Confine the path (and every link on the way) to these folders. */
  readonly confinement?: Confinement | undefined;
  readonly tenant?: string | undefined;
  /** What "file not found" says instead, when there is a better hint. */
  readonly notFound?: string;
}

/**
 * Read one file whole, bounded: refused when larger than `maxBytes`, when it is not a regular
 * file, or (with a confinement) when the path leads outside it. The file is opened without
 * following a final link and checked to be the one the confinement resolved, so a link swapped
 * in after the check is not followed either. Every failure is a problem naming the file.
 */
export async function readFileBounded(file: string, opts: ReadOptions): Promise<FileBytes> {
  const shown = displayPath(file);
  const bad = (message: string): FileBytes => ({ ok: false, problems: [{ file: shown, path: '', message, tenant: opts.tenant }] });
  let path = file;
  let expect: { dev: number; ino: number } | undefined;
  if (opts.confinement) {
    const c = await opts.confinement.resolve(file);
    if (!c.ok) return bad(c.reason === 'not-found' ? (opts.notFound ?? 'file not found') : c.message);
    if (c.isDirectory) return bad('is a directory, not a file');
    path = c.real;
    expect = { dev: c.dev, ino: c.ino };
  }
  let handle;
  try {
    // O_NONBLOCK: a named pipe put where a file should be must not hang the loader.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | (opts.confinement ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return bad(opts.notFound ?? 'file not found');
    if (code === 'ELOOP') return bad(`leads outside ${opts.confinement?.describe() ?? 'its folder'}`);
    return bad(`cannot read: ${code ?? String(e)}`);
  }
  try {
    const st = await handle.stat();
    if (expect && (st.dev !== expect.dev || st.ino !== expect.ino)) return bad('changed while it was read; try again');
    if (st.isDirectory()) return bad('is a directory, not a file');
    if (!st.isFile()) return bad('is not a regular file');
    if (st.size > opts.maxBytes) return bad(`is ${st.size} bytes; the limit is ${opts.maxBytes}`);
    // Read up to one byte past the limit: a file growing while it is read is refused too.
    const buf = Buffer.alloc(Math.min(st.size, opts.maxBytes) + 1);
    let filled = 0;
    while (filled < buf.length) {
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled === buf.length)
      return bad(filled > opts.maxBytes ? `is more than ${opts.maxBytes} bytes; the limit is ${opts.maxBytes}` : 'changed while it was read; try again');
    return { ok: true, bytes: buf.subarray(0, filled), real: path };
  } catch (e) {
    return bad(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export type FileText = { ok: true; text: string; real: string } | { ok: false; problems: ConfigProblem[] };

/** Read a bounded config file as UTF-8 text; bytes that are not UTF-8 are a problem, not replaced. */
export async function readTextBounded(file: string, opts: ReadOptions): Promise<FileText> {
  const r = await readFileBounded(file, opts);
  if (!r.ok) return r;
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(r.bytes), real: r.real };
  } catch {
    return { ok: false, problems: [{ file: displayPath(file), path: '', message: 'is not UTF-8 text', tenant: opts.tenant }] };
  }
}
