import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { checkId } from '../tenancy/ids.js';
import { namespacePrefix, type SecretNamespace } from './keys.js';
import { MAX_SECRET_BYTES, SecretCipher, type SecretStore } from './secret-store.js';

/** The KV bucket holding secrets (sealed; the server never sees a value). */
export const SECRETS_BUCKET = 'greentic_secrets';

/**
 * Secrets in a NATS JetStream KV bucket: keys global.{name}, {tenant}.{name},
 * {tenant}.teams.{team}.{name}; values sealed with AES-256-GCM exactly as on disk, with the
 * secret's address as associated data. Every instance needs the same master key.
 */
export class NatsSecretStore implements SecretStore {
  readonly #cipher: SecretCipher;

  private constructor(
    private readonly kv: KV,
    masterKey: Buffer,
  ) {
    this.#cipher = new SecretCipher(masterKey);
  }

  static async open(nc: NatsConnection, masterKey: Buffer, bucket = SECRETS_BUCKET): Promise<NatsSecretStore> {
    return new NatsSecretStore(await new Kvm(nc).create(bucket, { history: 1 }), masterKey);
  }

  #address(ns: SecretNamespace, name: string): { address: string; key: string } {
    const address = `${namespacePrefix(ns)}${checkId('secret', name, 'secret name')}`;
    return { address, key: address.replaceAll('/', '.') };
  }

  async get(ns: SecretNamespace, name: string): Promise<string | null> {
    const { address, key } = this.#address(ns, name);
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT') return null;
    return this.#cipher.open(address, Buffer.from(entry.value));
  }

  async set(ns: SecretNamespace, name: string, value: string): Promise<void> {
    const { address, key } = this.#address(ns, name);
    if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new RangeError(`secret ${address} is larger than ${MAX_SECRET_BYTES} bytes`);
    await this.kv.put(key, this.#cipher.seal(address, value));
  }

  async delete(ns: SecretNamespace, name: string): Promise<boolean> {
    const { key } = this.#address(ns, name);
    const entry = await this.kv.get(key);
    await this.kv.purge(key);
    return entry !== null && entry.operation === 'PUT';
  }

  async list(ns: SecretNamespace): Promise<string[]> {
    const prefix = namespacePrefix(ns).replaceAll('/', '.');
    const names: string[] = [];
    for await (const key of await this.kv.keys(`${prefix}*`)) names.push(key.slice(prefix.length));
    return names.sort();
  }
}
