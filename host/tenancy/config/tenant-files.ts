import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Bounds on what one tenant's folder may hold for the watcher and the version hash. */
export const MAX_TENANT_FILES = 10_000;
export const MAX_TENANT_DIRS = 256;
export const MAX_TENANT_DEPTH = 16;

/** One entry of a tenant's folder: a file with its identity on disk, or a symbolic link (never followed). */
export type TenantEntry =
  | { readonly kind: 'file'; readonly rel: string; readonly real: string; readonly identity: string }
  | { readonly kind: 'link'; readonly rel: string; readonly target: string };

/** What a walk of a tenant's folder found. */
export interface TenantFolderWalk {
  /** The folder's real path ("" when it does not exist). */
  readonly real: string;
  readonly entries: readonly TenantEntry[];
  /** Real paths of its folders (the folder itself first), for the watcher. */
  readonly dirs: readonly string[];
  /** True when a bound (files, folders, depth) cut the walk short. */
  readonly truncated: boolean;
}

/**
 * List a tenant's folder, bounded, without following any symbolic link: a link is an entry of
 * its own (its target text), so a link leading out of the folder is never walked, watched or
 * read here. Entries are sorted, so the same folder always lists the same way.
 */
export async function walkTenantFolder(dir: string): Promise<TenantFolderWalk> {
  const real = await realpath(dir).catch(() => '');
  if (real === '' || !(await stat(real).catch(() => null))?.isDirectory()) return { real: '', entries: [], dirs: [], truncated: false };
  const entries: TenantEntry[] = [];
  const dirs: string[] = [real];
  let truncated = false;
  const queue: Array<{ path: string; depth: number }> = [{ path: real, depth: 0 }];
  while (queue.length > 0) {
    const { path, depth } = queue.shift()!;
    const listed = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const e of listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = join(path, e.name);
      const rel = relative(real, full);
      if (entries.length >= MAX_TENANT_FILES) {
        truncated = true;
        break;
      }
      if (e.isSymbolicLink()) entries.push({ kind: 'link', rel, target: await readlink(full).catch(() => '') });
      else if (e.isDirectory()) {
        if (depth + 1 > MAX_TENANT_DEPTH || dirs.length >= MAX_TENANT_DIRS) truncated = true;
        else {
          dirs.push(full);
          queue.push({ path: full, depth: depth + 1 });
        }
      } else if (e.isFile()) {
        const st = await lstat(full, { bigint: true }).catch(() => null);
        if (st) entries.push({ kind: 'file', rel, real: full, identity: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` });
      }
    }
  }
  entries.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { real, entries, dirs, truncated };
}

/**
 * sha256 of files, remembered by their identity on disk (device, inode, size, modification and
 * change times), so hashing a tenant's folder again reads only what changed. Reads stream in
 * chunks: hashing a large component never holds the event loop for long. Bounded (least
 * recently used first out).
 */
export class FileDigests {
  readonly #known = new Map<string, string>();

  constructor(private readonly max = 20_000) {}

  async of(real: string, identity: string): Promise<string> {
    const key = `${real}\n${identity}`;
    const hit = this.#known.get(key);
    if (hit !== undefined) {
      this.#known.delete(key);
      this.#known.set(key, hit);
      return hit;
    }
    const hash = createHash('sha256');
    await new Promise<void>((done, fail) => {
      createReadStream(real)
        .on('data', (chunk) => hash.update(chunk))
        .on('end', done)
        .on('error', fail);
    }).catch(() => hash.update(`unreadable:${identity}`));
    const digest = hash.digest('hex');
    this.#known.set(key, digest);
    if (this.#known.size > this.max) this.#known.delete(this.#known.keys().next().value!);
    return digest;
  }
}

/** A hash of what a tenant's configuration is made of: every entry of its folder and what else `extra` says (its bundle.yaml entry). */
export async function configDigest(walk: TenantFolderWalk, extra: string, digests: FileDigests): Promise<string> {
  const hash = createHash('sha256').update(`${extra}\n`);
  for (const e of walk.entries) {
    if (e.kind === 'link') hash.update(`L ${e.rel}\0${e.target}\0`);
    else hash.update(`F ${e.rel}\0${await digests.of(e.real, e.identity)}\0`);
  }
  if (walk.truncated) hash.update('truncated\n');
  return hash.digest('hex');
}
