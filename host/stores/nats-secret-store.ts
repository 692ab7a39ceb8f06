import type { NatsConnection } from '@nats-io/transport-node';
import { NatsLinks } from '../messaging/nats/links.js';
import { GLOBAL_SECRETS_BUCKET, secretsBucket } from '../messaging/nats/resources.js';
import { checkId } from '../tenancy/ids.js';
import { checkSealedArea } from './key-id.js';
import { namespacePrefix, type SecretNamespace } from './keys.js';
import { KvBuckets } from './nats-kv.js';
import { KEY_ID_KEY, NatsSealedArea } from './nats-sealed-area.js';
import { SecretCipher } from './secret-cipher.js';
import { MAX_SECRET_BYTES, type SecretStore } from './secret-store.js';

/**
 * Secrets in NATS JetStream KV: one bucket per tenant (greentic_secrets_{tenant}, keys {name}
 * and teams.{team}.{name}, in the tenant's own account when it has one) and
 * greentic_secrets_global for the global namespace (on the main connection). Values are sealed
 * with AES-256-GCM exactly as on disk, with the secret's address as associated data; every
 * instance needs the same master key.
 */
export class NatsSecretStore implements SecretStore {
  readonly #cipher: SecretCipher;
  readonly #masterKey: Buffer;
  /** Buckets whose key id record matched (and exists) before their first write. */
  readonly #recorded = new Map<string, Promise<void>>();

  private constructor(
    private readonly kv: KvBuckets,
    masterKey: Buffer,
  ) {
    this.#cipher = new SecretCipher(masterKey);
    this.#masterKey = masterKey;
  }

  /**
   * Each of `tenants`' buckets, and the global one unless `global` is false (a tenant's own
   * user may not read it), must be sealed with this key; a bucket not set up yet has nothing to check.
   */
  async checkMasterKey(tenants: readonly string[], global = true): Promise<void> {
    const places = [...(global ? [this.#place({ kind: 'global' })] : []), ...tenants.map((tenant) => this.#place({ kind: 'tenant', tenant }))];
    for (const place of places) {
      await checkSealedArea(this.sealedArea(place.bucket, place.tenant), this.#masterKey, false);
    }
  }

  /** The bucket `bucket` (of `tenant`; undefined: the global one) as an area sealed under one key, for checks and rotation. */
  sealedArea(bucket: string, tenant: string | undefined): NatsSealedArea {
    return new NatsSealedArea(this.kv, bucket, tenant);
  }

  #recordKey(bucket: string, tenant: string | undefined): Promise<void> {
    let done = this.#recorded.get(bucket);
    if (!done) {
      done = checkSealedArea(this.sealedArea(bucket, tenant), this.#masterKey, true).catch((e: unknown) => {
        this.#recorded.delete(bucket);
        throw e;
      });
      this.#recorded.set(bucket, done);
    }
    return done;
  }

  /** Secrets through these connections (or one connection every tenant shares). */
  static async open(links: NatsLinks | NatsConnection, masterKey: Buffer): Promise<NatsSecretStore> {
    return new NatsSecretStore(new KvBuckets(links instanceof NatsLinks ? links : await NatsLinks.of(links)), masterKey);
  }

  /** The bucket, the connection's tenant, the key prefix inside the bucket and the sealed address. */
  #place(ns: SecretNamespace): { bucket: string; tenant: string | undefined; prefix: string } {
    switch (ns.kind) {
      case 'global':
        return { bucket: GLOBAL_SECRETS_BUCKET, tenant: undefined, prefix: '' };
      case 'tenant':
        return { bucket: secretsBucket(ns.tenant), tenant: ns.tenant, prefix: '' };
      case 'team':
        return { bucket: secretsBucket(ns.tenant), tenant: ns.tenant, prefix: `teams.${checkId('team', ns.team, 'secret namespace')}.` };
    }
  }

  #address(ns: SecretNamespace, name: string): { address: string; key: string; bucket: string; tenant: string | undefined } {
    const place = this.#place(ns);
    const n = checkId('secret', name, 'secret name');
    return { address: `${namespacePrefix(ns)}${n}`, key: `${place.prefix}${n}`, bucket: place.bucket, tenant: place.tenant };
  }

  async get(ns: SecretNamespace, name: string): Promise<string | null> {
    const { address, key, bucket, tenant } = this.#address(ns, name);
    const entry = await (await this.kv.bucket(bucket, tenant)).get(key);
    if (!entry || entry.operation !== 'PUT') return null;
    return this.#cipher.open(address, Buffer.from(entry.value));
  }

  async set(ns: SecretNamespace, name: string, value: string): Promise<void> {
    const { address, key, bucket, tenant } = this.#address(ns, name);
    if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw new RangeError(`secret ${address} is larger than ${MAX_SECRET_BYTES} bytes`);
    await this.#recordKey(bucket, tenant);
    await (await this.kv.bucket(bucket, tenant)).put(key, this.#cipher.seal(address, value));
  }

  async delete(ns: SecretNamespace, name: string): Promise<boolean> {
    const { key, bucket, tenant } = this.#address(ns, name);
    return this.kv.remove(bucket, key, tenant);
  }

  async list(ns: SecretNamespace): Promise<string[]> {
    const { bucket, tenant, prefix } = this.#place(ns);
    const keys = await this.kv.keys(bucket, `${prefix}*`, tenant);
    return keys
      .filter((k) => k !== KEY_ID_KEY)
      .map((k) => k.slice(prefix.length))
      .sort();
  }
}
