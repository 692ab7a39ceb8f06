import { Kvm, type KV } from '@nats-io/kv';
import type { NatsLinks } from '../messaging/nats/links.js';
import { isNotFound } from '../messaging/nats/resources.js';

/**
 * The KV buckets of the NATS stores, bound on first use through the tenant's connection (its
 * own account when it has one). Binding makes no request: the buckets are created at set-up
 * (resources.ts), with rollup headers refused.
 */
export class KvBuckets {
  readonly #bound = new Map<string, Promise<KV>>();

  constructor(private readonly links: NatsLinks) {}

  /** The bucket `bucket`, reached through `tenant`'s connection (undefined: the main one). */
  bucket(bucket: string, tenant?: string): Promise<KV> {
    const link = tenant === undefined ? this.links.main : this.links.forTenant(tenant);
    const key = `${tenant ?? ''}\n${bucket}`;
    let kv = this.#bound.get(key);
    if (!kv) {
      kv = new Kvm(link.js).open(bucket, { allow_direct: true });
      this.#bound.set(key, kv);
    }
    return kv;
  }

  /** Keys of `bucket` matching `filter` (a KV key pattern), from the stream's subjects: no consumer is needed. */
  async keys(bucket: string, filter: string, tenant?: string): Promise<string[]> {
    const link = tenant === undefined ? this.links.main : this.links.forTenant(tenant);
    const prefix = `$KV.${bucket}.`;
    let info;
    try {
      info = await link.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
    return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
  }

  /**
   * Remove a key's stored value (the bucket keeps one revision, so this erases it): deletes the
   * stream message of its latest revision. No delete marker and no purge, so no rollup is needed.
   */
  async remove(bucket: string, key: string, tenant?: string): Promise<boolean> {
    const link = tenant === undefined ? this.links.main : this.links.forTenant(tenant);
    const kv = await this.bucket(bucket, tenant);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const entry = await kv.get(key);
      if (!entry) return false;
      try {
        await link.jsm.streams.deleteMessage(`KV_${bucket}`, entry.revision, false);
        return entry.operation === 'PUT';
      } catch (e) {
        // Updated between the read and the delete: the old revision is gone, try the new one.
        if (!/no message found|not found/i.test((e as Error).message) || attempt === 5) throw e;
      }
    }
    return false;
  }
}
