import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { parseKeyIdRecord, type KeyIdRecord, type SealedArea, type SealedEntry } from './key-id.js';

/** The key id record of the embedded secrets, in their folder; a dot name is never a tenant id. */
export const KEY_ID_FILE = '.key-id';

/** The embedded secrets (`<data>/secrets/`, one `.secret` file each) as one area sealed under one key. */
export class FileSealedArea implements SealedArea {
  readonly where: string;

  constructor(private readonly root: string) {
    this.where = `${root}${sep}`;
  }

  async readKeyId(): Promise<KeyIdRecord | null> {
    let text: string;
    try {
      text = await readFile(join(this.root, KEY_ID_FILE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return parseKeyIdRecord(text, join(this.root, KEY_ID_FILE));
  }

  async writeKeyId(record: KeyIdRecord): Promise<void> {
    await writeFileAtomic(join(this.root, KEY_ID_FILE), Buffer.from(`${JSON.stringify(record)}\n`));
  }

  async *entries(): AsyncIterable<SealedEntry> {
    for await (const file of secretFiles(this.root)) {
      const sealed = await readFile(file);
      const address = relative(this.root, file).split(sep).join('/').slice(0, -'.secret'.length);
      yield { address, sealed, replace: (next) => writeFileAtomic(file, next) };
    }
  }
}

/** Every `.secret` file under `dir`, in a stable order; a missing folder has none. */
async function* secretFiles(dir: string): AsyncIterable<string> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const name of names) {
    const path = join(dir, name);
    const st = await stat(path);
    if (st.isDirectory()) yield* secretFiles(path);
    else if (st.isFile() && name.endsWith('.secret')) yield path;
  }
}
