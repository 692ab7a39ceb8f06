import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

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
 */
export async function loadMasterKey(keyFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  const fromEnv = env.GREENTIC_MASTER_KEY;
  if (fromEnv !== undefined && fromEnv !== '') return parseMasterKey(fromEnv, 'GREENTIC_MASTER_KEY');
  try {
    const st = await stat(keyFile);
    if ((st.mode & 0o077) !== 0) {
      throw new MasterKeyError(`master key file ${keyFile} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 on it`);
    }
    return parseMasterKey(await readFile(keyFile, 'utf8'), `master key file ${keyFile}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  try {
    const fh = await open(keyFile, 'wx', 0o600);
    await fh.writeFile(`${key.toString('hex')}\n`);
    await fh.sync();
    await fh.close();
    return key;
  } catch (e) {
    // Another process created it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadMasterKey(keyFile, env);
    throw e;
  }
}
