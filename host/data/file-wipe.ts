import { readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { QUARANTINE_DIR } from '../stores/session-quarantine.js';
import type { SessionKey } from '../stores/keys.js';
import { errnoOf, nodeFs, syncDirectory } from '../stores/store-fs.js';
import { checkId } from '../tenancy/ids.js';
import type { TenantWipe } from './tenant-data.js';

/**
 * What an erasure removes from the embedded data directory besides the stores' own deletions:
 * damaged copies of erased sessions moved aside, and for a whole tenant its folders
 * (sessions, quarantine, dead letters, secrets). Each removal is made durable (directory synced).
 */
export class FileTenantWipe implements TenantWipe {
  constructor(private readonly dataDir: string) {}

  async wipeTenant(tenant: string): Promise<void> {
    const t = checkId('tenant', tenant, 'tenant erasure');
    for (const dir of [join('sessions', t), join('sessions', QUARANTINE_DIR, t), join('deadletters', t), join('secrets', t)]) {
      const path = join(this.dataDir, dir);
      await rm(path, { recursive: true, force: true });
      await syncIfThere(dirname(path));
    }
  }

  async wipeSessions(keys: readonly SessionKey[]): Promise<void> {
    const byDir = new Map<string, Set<string>>();
    for (const k of keys) {
      const dir = join(this.dataDir, 'sessions', QUARANTINE_DIR, k.tenant, k.env, k.team);
      byDir.set(dir, (byDir.get(dir) ?? new Set()).add(k.session));
    }
    for (const [dir, sessions] of byDir) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') continue;
        throw e;
      }
      // Quarantined copies are named {session}.{epoch ms}-{random}.cbor.
      const doomed = names.filter((n) => sessions.has(n.slice(0, n.indexOf('.'))));
      for (const n of doomed) await rm(join(dir, n), { recursive: true, force: true });
      if (doomed.length > 0) await syncIfThere(dir);
    }
  }
}

async function syncIfThere(dir: string): Promise<void> {
  try {
    await syncDirectory(nodeFs, dir);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
}
