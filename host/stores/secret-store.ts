import { readFile, readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkId } from '../tenancy/ids.js';
import { writeFileAtomic } from './atomic-file.js';
import { FileSealedArea } from './file-sealed-area.js';
import { checkSealedArea } from './key-id.js';
import { SecretCipher } from './secret-cipher.js';
import { namespacePrefix, type SecretNamespace } from './keys.js';
import { StoreUnavailableError } from './storage-problem.js';
import { errnoOf, nodeFs, syncDirectory } from './store-fs.js';

/** Largest secret value accepted. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** Secrets by namespace and name; values are never listed. */
export interface SecretStore {
  get(ns: SecretNamespace, name: string): Promise<string | null>;
  set(ns: SecretNamespace, name: string, value: string): Promise<void>;
  delete(ns: SecretNamespace, name: string): Promise<boolean>;
  /** Names in one namespace, sorted. */
  list(ns: SecretNamespace): Promise<string[]>;
  /**
   * Refuse a master key other than the one the stored secrets are sealed with
   * (MasterKeyMismatchError); NATS: the global bucket and those of `tenants`.
   */
  checkMasterKey?(tenants: readonly string[]): Promise<void>;
}

/** The embedded backend: one encrypted file per secret under `<data>/secrets/<namespace>/`. */
export class FileSecretStore implements SecretStore {
  readonly #root: string;
  readonly #cipher: SecretCipher;
  readonly #masterKey: Buffer;
  /** Set once the key id record matches (and exists, before the first write). */
  #keyChecked: Promise<void> | undefined;

  constructor(dataDir: string, masterKey: Buffer) {
    this.#root = join(dataDir, 'secrets');
    this.#cipher = new SecretCipher(masterKey);
    this.#masterKey = masterKey;
  }

  async checkMasterKey(): Promise<void> {
    await checkSealedArea(new FileSealedArea(this.#root), this.#masterKey, false);
  }

  /** Before the first write: the key matches the record, and the record exists, so no second key can join later. */
  #recordKey(): Promise<void> {
    this.#keyChecked ??= checkSealedArea(new FileSealedArea(this.#root), this.#masterKey, true).catch((e: unknown) => {
      this.#keyChecked = undefined;
      throw e;
    });
    return this.#keyChecked;
  }

  #address(ns: SecretNamespace, name: string): string {
    return `${namespacePrefix(ns)}${checkId('secret', name, 'secret name')}`;
  }

  async get(ns: SecretNamespace, name: string): Promise<string | null> {
    const address = this.#address(ns, name);
    let sealed: Buffer;
    try {
      sealed = await readFile(join(this.#root, `${address}.secret`));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return this.#cipher.open(address, sealed);
  }

  async set(ns: SecretNamespace, name: string, value: string): Promise<void> {
    const address = this.#address(ns, name);
    if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new RangeError(`secret ${address} is larger than ${MAX_SECRET_BYTES} bytes`);
    await this.#recordKey();
    try {
      await writeFileAtomic(join(this.#root, `${address}.secret`), this.#cipher.seal(address, value));
    } catch (e) {
      throw StoreUnavailableError.from(e, `secret ${address}`);
    }
  }

  async delete(ns: SecretNamespace, name: string): Promise<boolean> {
    const address = this.#address(ns, name);
    const file = join(this.#root, `${address}.secret`);
    try {
      await unlink(file);
      // The removal is durable once the directory is synced.
      await syncDirectory(nodeFs, dirname(file));
      return true;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return false;
      throw StoreUnavailableError.from(e, `the deletion of secret ${address}`);
    }
  }

  async list(ns: SecretNamespace): Promise<string[]> {
    const names = await readdir(join(this.#root, namespacePrefix(ns))).catch(() => [] as string[]);
    return names
      .filter((n) => n.endsWith('.secret'))
      .map((n) => n.slice(0, -'.secret'.length))
      .sort();
  }
}
