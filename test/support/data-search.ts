import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `dir` (recursively) whose bytes contain `needle`, as paths relative to `dir`. */
export function filesContaining(dir: string, needle: string): string[] {
  const want = Buffer.from(needle, 'utf8');
  const hits: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const path = join(rel, name);
      const st = statSync(join(dir, path));
      if (st.isDirectory()) walk(path);
      else if (readFileSync(join(dir, path)).includes(want)) hits.push(path);
    }
  };
  walk('');
  return hits.sort();
}

/** How many files there are under `dir` (recursively): a search of none proves nothing. */
export function countFiles(dir: string): number {
  let n = 0;
  const walk = (p: string) => {
    for (const name of readdirSync(p)) statSync(join(p, name)).isDirectory() ? walk(join(p, name)) : n++;
  };
  walk(dir);
  return n;
}
