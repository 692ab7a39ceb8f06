import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { SessionKey } from './keys.js';
import { syncDirectory, type StoreFs } from './store-fs.js';

/** Where damaged session files are moved: a tenant id never starts with ".", so this never meets a tenant's folder. */
export const QUARANTINE_DIR = '.quarantine';

/**
 * Move a damaged session file (or whatever sits at its path: a directory, a symlink) out of the
 * tenant's tree, to sessions/.quarantine/{tenant}/{env}/{team}/{session}.{epoch ms}-{random}.cbor,
 * for an operator to look at. Returns the path it now has.
 */
export async function quarantineSessionFile(fs: StoreFs, dataDir: string, key: SessionKey, file: string): Promise<string> {
  const dest = join(dataDir, 'sessions', QUARANTINE_DIR, key.tenant, key.env, key.team, `${key.session}.${Date.now()}-${randomBytes(4).toString('hex')}.cbor`);
  await fs.mkdir(dirname(dest), { recursive: true, mode: 0o700 });
  await fs.rename(file, dest);
  // The file is gone from the tenant's folder once that folder's entry is durable.
  await syncDirectory(fs, dirname(file));
  return dest;
}
