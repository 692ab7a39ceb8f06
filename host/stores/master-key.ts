import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { writeTempFile } from './atomic-file.js';
import { PROBLEM_TEXT, problemOf } from './storage-problem.js';
import { errnoOf, nodeFs, syncDirectory, type StoreFs } from './store-fs.js';

/** The master key is missing, malformed or stored unsafely. */
export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';
}

/** Decode a 32-byte key written as 64 hex digits or as base64. */
export function parseMasterKey(text: string, source: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : /^[A-Za-z0-9+/]{43}=?$/.test(t) ? Buffer.from(t, 'base64') : null;
  if (!key || key.length !== 32) throw new MasterKeyError(`${source} must hold a 32-byte key as 64 hex digits or base64`);
  return key;
}

/**
 * The key that encrypts secrets at rest: GREENTIC_MASTER_KEY if set, else the key file,
 * created with 32 random bytes and mode 0600 on first use. A key file others can read is refused.
 * The file appears whole or not at all (written to a temp file, synced, then linked into place),
 * so a full disk at first start leaves no empty key file behind; an empty one an older version
 * left (it never held a key, so nothing was sealed with it) is replaced.
 */
export async function loadMasterKey(keyFile: string, env: NodeJS.ProcessEnv = process.env, fs: StoreFs = nodeFs): Promise<Buffer> {
  const fromEnv = env.GREENTIC_MASTER_KEY;
  if (fromEnv !== undefined && fromEnv !== '') return parseMasterKey(fromEnv, 'GREENTIC_MASTER_KEY');
  for (let attempt = 0; ; attempt++) {
    const existing = await readKeyFile(fs, keyFile);
    if (existing !== 'absent' && existing !== 'empty') return existing;
    if (attempt > 2) throw new MasterKeyError(`master key file ${keyFile} keeps changing while it is read; is another process rewriting it?`);
    if (existing === 'empty') await fs.unlink(keyFile).catch(() => undefined);
    const key = randomBytes(32);
    try {
      await createKeyFile(fs, keyFile, key);
      return key;
    } catch (e) {
      // Another process created it first: use theirs.
      if (errnoOf(e) === 'EEXIST') continue;
      const problem = problemOf(e);
      throw new MasterKeyError(`cannot create the master key file ${keyFile}: ${PROBLEM_TEXT[problem]} (${errnoOf(e) ?? (e as Error).message})`);
    }
  }
}

async function readKeyFile(fs: StoreFs, keyFile: string): Promise<Buffer | 'absent' | 'empty'> {
  let st;
  try {
    st = await fs.stat(keyFile);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return 'absent';
    throw new MasterKeyError(`cannot read the master key file ${keyFile}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
  }
  if (!st.isFile()) throw new MasterKeyError(`master key file ${keyFile} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new MasterKeyError(`master key file ${keyFile} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 on it`);
  }
  if (st.size === 0) return 'empty';
  let text: string;
  try {
    text = (await fs.readFile(keyFile)).toString('utf8');
  } catch (e) {
    throw new MasterKeyError(`cannot read the master key file ${keyFile}: ${PROBLEM_TEXT[problemOf(e)]} (${errnoOf(e) ?? (e as Error).message})`);
  }
  return parseMasterKey(text, `master key file ${keyFile}`);
}

/** Write the key whole to a temp file, then link it into place: link fails with EEXIST if another process won the race. */
async function createKeyFile(fs: StoreFs, keyFile: string, key: Buffer): Promise<void> {
  await fs.mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  const tmp = await writeTempFile(fs, keyFile, Buffer.from(`${key.toString('hex')}\n`), 0o600);
  try {
    await fs.link(tmp, keyFile);
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
  await syncDirectory(fs, dirname(keyFile));
}
