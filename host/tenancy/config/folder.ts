import { readdir } from 'node:fs/promises';

/**
 * Names in `dir` ending with `ext`, sorted; a missing folder is empty. Nothing is skipped for
 * its type: reading goes through the tenant's confinement and bounded reader, so a link inside
 * the tenant's folder works, and a link leading out, a folder or a pipe is reported, never silently ignored.
 */
export async function listEntries(dir: string, ext: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.name.endsWith(ext))
    .map((e) => e.name)
    .sort();
}

/** Names of the folders (and symbolic links, resolved later under confinement) in `dir`, sorted. */
export async function listFolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() || e.isSymbolicLink())
    .map((e) => e.name)
    .sort();
}
