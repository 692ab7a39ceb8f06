import type { NatsConnection } from '@nats-io/transport-node';
import { decode, encode } from 'cbor-x';
import { NatsLinks } from '../messaging/nats/links.js';
import { sessionsBucket } from '../messaging/nats/resources.js';
import type { TenantScope } from '../tenancy/tenant-ctx.js';
import { sessionKey, type SessionKey } from './keys.js';
import { KvBuckets } from './nats-kv.js';
import { checkBelongs, CorruptSessionError, RevisionConflictError, type SessionRecord, type SessionStore, type StoredSession } from './session-store.js';

/** A session's KV key inside its tenant's bucket: {env}.{team}.{session}, every token a checked id. */
export function sessionKvKey(key: SessionKey): string {
  return `${key.env}.${key.team}.${key.session}`;
}

/**
 * Sessions in NATS JetStream KV, one bucket per tenant (greentic_sessions_{tenant}, in the
 * tenant's own account when it has one), one CBOR entry per session. The KV revision is the
 * compare-and-set token: two instances racing on one session cannot both win, the loser gets
 * RevisionConflictError and retries its turn.
 */
export class NatsSessionStore implements SessionStore {
  private constructor(private readonly kv: KvBuckets) {}

  /** Sessions through these connections (or one connection every tenant shares). */
  static async open(links: NatsLinks | NatsConnection): Promise<NatsSessionStore> {
    return new NatsSessionStore(new KvBuckets(links instanceof NatsLinks ? links : await NatsLinks.of(links)));
  }

  #where(key: SessionKey): string {
    return `KV ${sessionsBucket(key.tenant)}/${sessionKvKey(key)}`;
  }

  async get(key: SessionKey): Promise<StoredSession | null> {
    const kv = await this.kv.bucket(sessionsBucket(key.tenant), key.tenant);
    const entry = await kv.get(sessionKvKey(key));
    if (!entry || entry.operation !== 'PUT') return null;
    let record: SessionRecord;
    try {
      record = decode(entry.value) as SessionRecord;
    } catch (e) {
      throw new CorruptSessionError(`session ${this.#where(key)} is not valid CBOR: ${(e as Error).message}`);
    }
    if (record === null || typeof record !== 'object') throw new CorruptSessionError(`session ${this.#where(key)} is not a session record`);
    checkBelongs(key, record, this.#where(key));
    return { record, revision: entry.revision };
  }

  async put(key: SessionKey, record: SessionRecord, expected: number): Promise<number> {
    checkBelongs(key, record, this.#where(key));
    const kv = await this.kv.bucket(sessionsBucket(key.tenant), key.tenant);
    const k = sessionKvKey(key);
    const value = encode(record);
    try {
      return expected === 0 ? await kv.create(k, value) : await kv.update(k, value, expected);
    } catch (e) {
      if (isConflict(e)) throw new RevisionConflictError(`session ${key.tenant}/${k} changed (expected revision ${expected})`);
      throw e;
    }
  }

  /** Forget a session; works on a damaged entry too (it is not decoded). */
  async delete(key: SessionKey): Promise<boolean> {
    return this.kv.remove(sessionsBucket(key.tenant), sessionKvKey(key), key.tenant);
  }

  async list(scope: TenantScope, opts: { after?: string; limit?: number } = {}): Promise<string[]> {
    const k = sessionKey(scope, 'x');
    const ids = (await this.kv.keys(sessionsBucket(k.tenant), `${k.env}.${k.team}.*`, k.tenant)).map((key) => key.split('.')[2]!).sort();
    const start = opts.after === undefined ? 0 : ids.findIndex((id) => id > opts.after!);
    return (start < 0 ? [] : ids.slice(start)).slice(0, opts.limit ?? ids.length);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}

function isConflict(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  return /wrong last sequence|key exists/i.test(msg);
}
