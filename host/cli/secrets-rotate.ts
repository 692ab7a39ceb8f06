import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { NatsConnectError } from '../messaging/nats/options.js';
import type { NatsLinks } from '../messaging/nats/links.js';
import { createLogger } from '../observability/logger.js';
import { writeFileAtomic } from '../stores/atomic-file.js';
import { FileSealedArea } from '../stores/file-sealed-area.js';
import { masterKeyId, rotateSealedArea, type SealedArea } from '../stores/key-id.js';
import { loadMasterKey, parseMasterKey } from '../stores/master-key.js';
import { isValidId } from '../tenancy/ids.js';
import { natsUrlFlag } from './instance-config.js';
import { CommandFailed, UsageError, type CommandIo } from './usage.js';

export const ROTATE_HELP = `  rotate-key    re-seal every secret under a new master key (stop the hosts first):
                the new key comes from GREENTIC_NEW_MASTER_KEY or --new-key-file FILE; without
                either, and with the key in DATA/master.key, a new random key is made. Each
                place (DATA/secrets/, each NATS KV secrets bucket) is refused by every process
                while it rotates and switches to the new key at once; if the command stops half
                way, run it again with the same keys. DATA/master.key is replaced at the end
                (when the old key came from it); with GREENTIC_MASTER_KEY, set it to the new key.`;

/** The file a new key waits in until every place is re-sealed: a rotation run again picks it up. */
const NEXT_KEY_FILE = 'master.key.next';

/** `greentic-host secrets rotate-key [--data DIR] [--nats URL] [--new-key-file FILE]`. */
export async function rotateKeyCommand(
  dataDir: string,
  natsUrl: string | undefined,
  newKeyFile: string | undefined,
  io: CommandIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const keyFile = join(dataDir, 'master.key');
  const oldFromFile = !env.GREENTIC_MASTER_KEY;
  const oldKey = await loadMasterKey(keyFile, env);
  const next = join(dataDir, NEXT_KEY_FILE);
  const newKey = await newMasterKey(next, newKeyFile, oldFromFile, env);
  if (newKey.equals(oldKey)) throw new UsageError('the new master key is the key in use; nothing to do');
  io.err(`rotating from master key id ${masterKeyId(oldKey)} to ${masterKeyId(newKey)}`);

  let links: NatsLinks | undefined;
  try {
    const areas: SealedArea[] = [];
    if (natsUrl === undefined) areas.push(new FileSealedArea(join(dataDir, 'secrets')));
    else {
      // The NATS client libraries are read only with --nats.
      const [{ NatsLinks }, { GLOBAL_SECRETS_BUCKET, secretsBucket }, { NatsSecretStore }] = await Promise.all([
        import('../messaging/nats/links.js'),
        import('../messaging/nats/resources.js'),
        import('../stores/nats-secret-store.js'),
      ]);
      /** greentic_secrets_{tenant}, without the tenant. */
      const tenantPrefix = secretsBucket('x').slice(0, -1);
      try {
        links = await NatsLinks.connect(
          { url: natsUrlFlag(natsUrl), name: 'greentic-host secrets rotate-key', connectWaitMs: 1 },
          createLogger({ level: 'warn' }),
        );
      } catch (e) {
        if (e instanceof NatsConnectError) throw new CommandFailed(e.message);
        throw e;
      }
      const store = await NatsSecretStore.open(links, oldKey);
      for (const bucket of await secretsBuckets(links, tenantPrefix)) {
        const tenant = bucket === GLOBAL_SECRETS_BUCKET ? undefined : bucket.slice(tenantPrefix.length);
        if (tenant !== undefined && !isValidId(tenant)) continue;
        areas.push(store.sealedArea(bucket, tenant));
      }
    }
    for (const area of areas) {
      const r = await rotateSealedArea(area, oldKey, newKey);
      io.err(`${r.where}: ${r.resealed} re-sealed${r.already > 0 ? `, ${r.already} already under the new key` : ''}`);
    }
  } finally {
    await links?.close();
  }
  if (oldFromFile) {
    if (!existsSync(next)) await writeFileAtomic(next, Buffer.from(`${newKey.toString('hex')}\n`));
    await rename(next, keyFile);
    io.err(`${keyFile} now holds the new key (id ${masterKeyId(newKey)})`);
  } else {
    io.err(`done: set GREENTIC_MASTER_KEY to the new key (id ${masterKeyId(newKey)}) for every host`);
  }
  return 0;
}

/** The new key: GREENTIC_NEW_MASTER_KEY, --new-key-file, an unfinished rotation's master.key.next, or a fresh one kept there first. */
async function newMasterKey(next: string, file: string | undefined, oldFromFile: boolean, env: NodeJS.ProcessEnv): Promise<Buffer> {
  if (env.GREENTIC_NEW_MASTER_KEY) return parseMasterKey(env.GREENTIC_NEW_MASTER_KEY, 'GREENTIC_NEW_MASTER_KEY');
  if (file !== undefined) {
    if (!existsSync(file)) throw new UsageError(`--new-key-file ${file}: no such file`);
    if ((statSync(file).mode & 0o077) !== 0) throw new UsageError(`--new-key-file ${file} is readable by others; run chmod 600 on it`);
    return parseMasterKey(await readFile(file, 'utf8'), `--new-key-file ${file}`);
  }
  if (!oldFromFile) {
    throw new UsageError('GREENTIC_MASTER_KEY is set: give the new key in GREENTIC_NEW_MASTER_KEY (e.g. from openssl rand -hex 32) or --new-key-file FILE');
  }
  // Kept on disk before anything is re-sealed, so a rotation that stops half way never loses the key.
  if (existsSync(next)) return loadMasterKey(next, {});
  const key = randomBytes(32);
  await writeFileAtomic(next, Buffer.from(`${key.toString('hex')}\n`));
  return key;
}

/** The secrets buckets this NATS user can see: the global one and each tenant's. */
async function secretsBuckets(links: NatsLinks, tenantPrefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const stream of links.main.jsm.streams.names()) {
    if (stream.startsWith(`KV_${tenantPrefix}`)) names.push(stream.slice('KV_'.length));
  }
  return names.sort();
}
