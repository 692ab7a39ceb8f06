import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { decode, encode } from 'cbor-x';
import { checkId, isValidId } from '../tenancy/ids.js';
import { randomHex } from '../util/random-hex.js';
import { writeFileAtomic } from './atomic-file.js';
import { checkLetter, replayLetter, type DeadLetter, type DeadLetterInput, type DeadLetterStore, type ReplayTarget } from './dead-letters.js';

/** Letters one tenant may keep on disk; past it a new letter is refused (the tenant's own problem, logged by the caller). */
export const FILE_DEAD_LETTERS_PER_TENANT = 10_000;

/** The store is full for this tenant. */
export class DeadLettersFullError extends Error {
  override readonly name = 'DeadLettersFullError';
}

/**
 * The embedded backend: one CBOR file per letter at deadletters/{tenant}/{id}.cbor, written
 * atomically. Ids are the time they were recorded (zero-padded ms) and a random suffix, so a
 * directory listing sorted by name is oldest first.
 */
export class FileDeadLetterStore implements DeadLetterStore {
  readonly #counts = new Map<string, number>();

  constructor(
    private readonly dataDir: string,
    private readonly maxPerTenant = FILE_DEAD_LETTERS_PER_TENANT,
  ) {}

  #dir(tenant: string): string {
    return join(this.dataDir, 'deadletters', checkId('tenant', tenant, 'dead-letter store'));
  }

  #file(tenant: string, id: string): string | null {
    // Ids come from operators and the API: anything else is simply not found.
    return isValidId(id) && id.startsWith('d') ? join(this.#dir(tenant), `${id}.cbor`) : null;
  }

  async #ids(tenant: string): Promise<string[]> {
    try {
      const names = await readdir(this.#dir(tenant));
      return names
        .filter((n) => n.endsWith('.cbor') && isValidId(n.slice(0, -5)))
        .map((n) => n.slice(0, -5))
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async record(input: DeadLetterInput): Promise<string> {
    const letter = checkLetter(input);
    const count = this.#counts.get(letter.tenant) ?? (await this.#ids(letter.tenant)).length;
    if (count >= this.maxPerTenant) throw new DeadLettersFullError(`tenant ${letter.tenant} has ${count} dead letters, the most kept; delete or replay some`);
    const at = Date.now();
    const id = `d${String(at).padStart(15, '0')}-${randomHex(4)}`;
    const stored: DeadLetter = { ...letter, data: Buffer.from(letter.data), id, at };
    await writeFileAtomic(this.#file(letter.tenant, id)!, encode(stored));
    this.#counts.set(letter.tenant, count + 1);
    return id;
  }

  async list(tenant: string, opts: { after?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const ids = (await this.#ids(tenant)).filter((id) => opts.after === undefined || id > opts.after).slice(0, opts.limit ?? 100);
    const out: DeadLetter[] = [];
    for (const id of ids) {
      const l = await this.get(tenant, id);
      if (l) out.push(l);
    }
    return out;
  }

  async get(tenant: string, id: string): Promise<DeadLetter | null> {
    const file = this.#file(tenant, id);
    if (!file) return null;
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const l = decode(bytes) as DeadLetter;
    // A file copied in from another tenant's folder is not this tenant's letter.
    if (l?.tenant !== tenant || l.id !== id) return null;
    return { ...l, data: new Uint8Array(l.data) };
  }

  replay(tenant: string, id: string, target: ReplayTarget): Promise<boolean> {
    return replayLetter(this, tenant, id, target);
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    const file = this.#file(tenant, id);
    if (!file || !(await this.get(tenant, id))) return false;
    await rm(file, { force: true });
    const c = this.#counts.get(tenant);
    if (c !== undefined) this.#counts.set(tenant, Math.max(0, c - 1));
    return true;
  }
}
