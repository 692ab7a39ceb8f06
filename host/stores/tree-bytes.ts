import { readdirIfExists, type StoreFs } from './store-fs.js';
import { join } from 'node:path';

/** The deepest a session tree goes below a tenant's folder (env/team/file), plus slack. */
const MAX_DEPTH = 4;

/** Bytes of the regular files under `dir` (links not followed, at most MAX_DEPTH levels); 0 if it does not exist. */
export async function treeBytes(fs: StoreFs, dir: string, depth = 0): Promise<number> {
  const names = await readdirIfExists(fs, dir);
  let total = 0;
  for (const name of names) {
    const path = join(dir, name);
    const st = await fs.lstat(path).catch(() => undefined);
    if (st?.isFile()) total += st.size;
    else if (st?.isDirectory() && depth < MAX_DEPTH) total += await treeBytes(fs, path, depth + 1);
  }
  return total;
}
