import { readdir } from 'node:fs/promises';

/**
 * Names in `dir` ending with `ext` that are files or symbolic links, sorted; a missing folder
 * is empty. Links are listed, not skipped: reading one goes through the tenant's confinement,
 * so a link inside the tenant's folder works and one leading out is reported, never silently ignored.
 */
export async function listEntries(dir: string, ext: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith(ext))
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
