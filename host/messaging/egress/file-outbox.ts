import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decode, encode } from 'cbor-x';
import { writeFileAtomic } from '../../stores/atomic-file.js';
import { checkId, isValidId } from '../../tenancy/ids.js';
import { randomHex } from '../../util/random-hex.js';
import { DeliveryRecordSchema, type DeliveryRecord } from './delivery.js';

/** One reply kept on disk until it is delivered or a dead letter. */
export interface OutboxEntry {
  readonly tenant: string;
  readonly id: string;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly record: DeliveryRecord;
}

/** Who owns an instance folder: a process on a boot. */
interface Owner {
  readonly pid: number;
  readonly boot: string;
}

/**
 * The embedded defaults' egress outbox: every reply waiting for a provider is a file at
 * outbox/{instance}/{tenant}/{id}.cbor under the data folder, written atomically (fsync) before
 * the webhook it answers is acknowledged, rewritten before and after each request, removed
 * when it is over. Each running process has a folder of its own (so `serve` and a CLI command
 * on the same data folder never take each other's replies); a folder whose process is gone is
 * adopted by the next one that opens the outbox.
 */
export class FileOutbox {
  private constructor(
    private readonly root: string,
    private readonly dir: string,
  ) {}

  /** Open this process's folder, adopting the folders of processes that are gone; returns what they left. */
  static async open(dataDir: string): Promise<{ outbox: FileOutbox; adopted: OutboxEntry[] }> {
    const root = join(dataDir, 'outbox');
    const me = `i${String(Date.now()).padStart(15, '0')}-${randomHex(6)}`;
    const dir = join(root, me);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(dir, 'owner.json'), Buffer.from(JSON.stringify({ pid: process.pid, boot: await bootId() } satisfies Owner)));
    const outbox = new FileOutbox(root, dir);
    return { outbox, adopted: await outbox.#adopt(me) };
  }

  async #adopt(me: string): Promise<OutboxEntry[]> {
    const adopted: OutboxEntry[] = [];
    const boot = await bootId();
    for (const name of (await readdir(this.root)).sort()) {
      if (name === me || !/^i[0-9]{15}-[0-9a-f]{12}$/.test(name)) continue;
      const other = join(this.root, name);
      if (await alive(other, boot)) continue;
      for (const tenant of await readdir(other).catch(() => [] as string[])) {
        if (!isValidId(tenant)) continue;
        for (const file of (await readdir(join(other, tenant)).catch(() => [] as string[])).filter((f) => f.endsWith('.cbor'))) {
          await mkdir(join(this.dir, tenant), { recursive: true, mode: 0o700 });
          try {
            // A rename is atomic: of two processes adopting at once, one gets each file.
            await rename(join(other, tenant, file), join(this.dir, tenant, file));
          } catch {
            continue;
          }
          const entry = await this.#read(tenant, file.slice(0, -'.cbor'.length));
          if (entry) adopted.push(entry);
        }
      }
      await rm(other, { recursive: true, force: true });
    }
    return adopted;
  }

  async #read(tenant: string, id: string): Promise<OutboxEntry | null> {
    try {
      const raw = decode(await readFile(join(this.dir, tenant, `${id}.cbor`))) as { subject?: unknown; data?: unknown; record?: unknown };
      const record = DeliveryRecordSchema.safeParse(raw?.record);
      if (typeof raw?.subject !== 'string' || !(raw.data instanceof Uint8Array) || !record.success) return null;
      return { tenant, id, subject: raw.subject, data: new Uint8Array(raw.data), record: record.data };
    } catch {
      return null;
    }
  }

  /** Keep a reply (durably) and return its entry. */
  async add(tenant: string, subject: string, data: Uint8Array, record: DeliveryRecord): Promise<OutboxEntry> {
    const t = checkId('tenant', tenant, 'outbox');
    const entry: OutboxEntry = { tenant: t, id: `e${String(Date.now()).padStart(15, '0')}-${randomHex(6)}`, subject, data, record };
    await this.#write(entry, record);
    return entry;
  }

  /** Rewrite an entry's record. */
  async save(entry: OutboxEntry, record: DeliveryRecord): Promise<void> {
    await this.#write(entry, record);
  }

  /** Forget an entry (delivered, or a dead letter now). */
  async remove(entry: OutboxEntry): Promise<void> {
    await rm(join(this.dir, entry.tenant, `${entry.id}.cbor`), { force: true });
  }

  async #write(entry: OutboxEntry, record: DeliveryRecord): Promise<void> {
    await writeFileAtomic(join(this.dir, entry.tenant, `${entry.id}.cbor`), encode({ subject: entry.subject, data: Buffer.from(entry.data), record }));
  }

  /** Give the folder up: removed when nothing is left in it, else left for the next process to adopt. */
  async close(): Promise<void> {
    const tenants = await readdir(this.dir).catch(() => [] as string[]);
    for (const t of tenants.filter(isValidId)) {
      const files = await readdir(join(this.dir, t)).catch(() => [] as string[]);
      if (files.some((f) => f.endsWith('.cbor'))) {
        // Pending replies: whoever opens the outbox next adopts them (this process will be gone).
        await writeFile(join(this.dir, 'owner.json'), JSON.stringify({ pid: 0, boot: '' } satisfies Owner));
        return;
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** True when the folder's owning process still runs (same boot, the pid answers a signal 0). */
async function alive(dir: string, boot: string): Promise<boolean> {
  let owner: Owner;
  try {
    owner = JSON.parse(await readFile(join(dir, 'owner.json'), 'utf8')) as Owner;
  } catch {
    // Being created right now, or broken: only a folder with an owner file that says so is adopted.
    return true;
  }
  if (!Number.isSafeInteger(owner.pid) || owner.pid <= 0 || owner.boot !== boot) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This boot of the machine (Linux), so a pid reused after a reboot is not taken for the old owner. */
async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => 'unknown')).trim();
}
