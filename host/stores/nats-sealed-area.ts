import { isNotFound } from '../messaging/nats/resources.js';
import { isValidId } from '../tenancy/ids.js';
import { parseKeyIdRecord, type KeyIdRecord, type SealedArea, type SealedEntry } from './key-id.js';
import type { KvBuckets } from './nats-kv.js';

/** The key id record's KV key in a secrets bucket; it starts with "_", which no secret name does. */
export const KEY_ID_KEY = '_key-id';

/** One NATS KV secrets bucket (a tenant's, or the global one) as an area sealed under one key. */
export class NatsSealedArea implements SealedArea {
  readonly where: string;

  /** `tenant`: the bucket's tenant (keys `{name}`, `teams.{team}.{name}`); undefined for the global bucket. */
  constructor(
    private readonly kv: KvBuckets,
    private readonly bucket: string,
    private readonly tenant: string | undefined,
  ) {
    this.where = `NATS KV bucket ${bucket}`;
  }

  async readKeyId(): Promise<KeyIdRecord | null> {
    let entry;
    try {
      entry = await (await this.kv.bucket(this.bucket, this.tenant)).get(KEY_ID_KEY);
    } catch (e) {
      // A bucket not set up yet holds no secrets.
      if (isNotFound(e)) return null;
      throw e;
    }
    if (!entry || entry.operation !== 'PUT') return null;
    return parseKeyIdRecord(new TextDecoder().decode(entry.value), `${this.where}, key ${KEY_ID_KEY}`);
  }

  async writeKeyId(record: KeyIdRecord): Promise<void> {
    await (await this.kv.bucket(this.bucket, this.tenant)).put(KEY_ID_KEY, JSON.stringify(record));
  }

  async *entries(): AsyncIterable<SealedEntry> {
    const kv = await this.kv.bucket(this.bucket, this.tenant);
    for (const key of (await this.kv.keys(this.bucket, '>', this.tenant)).sort()) {
      const address = this.#address(key);
      if (address === undefined) continue;
      const entry = await kv.get(key);
      if (!entry || entry.operation !== 'PUT') continue;
      const revision = entry.revision;
      // Compare-and-set on the revision read: a secret set meanwhile is not overwritten.
      yield { address, sealed: Buffer.from(entry.value), replace: async (next) => void (await kv.update(key, next, revision)) };
    }
  }

  /** The sealed address of a key, or undefined for a key that is not a secret (the record, anything foreign). */
  #address(key: string): string | undefined {
    const parts = key.split('.');
    const prefix = this.tenant === undefined ? 'global/' : `${this.tenant}/`;
    if (parts.length === 1 && isValidId(parts[0]!)) return `${prefix}${parts[0]}`;
    if (this.tenant !== undefined && parts.length === 3 && parts[0] === 'teams' && isValidId(parts[1]!) && isValidId(parts[2]!))
      return `${prefix}teams/${parts[1]}/${parts[2]}`;
    return undefined;
  }
}
