import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { decode, encode } from 'cbor-x';
import type { TenantScope } from '../tenancy/tenant-ctx.js';
import { sessionKey, type SessionKey } from './keys.js';
import { checkBelongs, CorruptSessionError, RevisionConflictError, type SessionRecord, type SessionStore, type StoredSession } from './session-store.js';

/** The KV bucket holding sessions. */
export const SESSIONS_BUCKET = 'greentic_sessions';

/** A session's KV key: {tenant}.{env}.{team}.{session}, every token a checked id. */
export function sessionKvKey(key: SessionKey): string {
  return `${key.tenant}.${key.env}.${key.team}.${key.session}`;
}

/**
 * Sessions in a NATS JetStream KV bucket, one CBOR entry per session. The KV revision is the
 * compare-and-set token: two instances racing on one session cannot both win, the loser gets
 * RevisionConflictError and retries its turn.
 */
export class NatsSessionStore implements SessionStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, bucket = SESSIONS_BUCKET): Promise<NatsSessionStore> {
    return new NatsSessionStore(await new Kvm(nc).create(bucket, { history: 1 }));
  }

  async get(key: SessionKey): Promise<StoredSession | null> {
    const entry = await this.kv.get(sessionKvKey(key));
    if (!entry || entry.operation !== 'PUT') return null;
    let record: SessionRecord;
    try {
      record = decode(entry.value) as SessionRecord;
    } catch (e) {
      throw new CorruptSessionError(`session ${sessionKvKey(key)} is not valid CBOR: ${(e as Error).message}`);
    }
    checkBelongs(key, record, `KV ${SESSIONS_BUCKET}/${sessionKvKey(key)}`);
    return { record, revision: entry.revision };
  }

  async put(key: SessionKey, record: SessionRecord, expected: number): Promise<number> {
    checkBelongs(key, record, `KV ${SESSIONS_BUCKET}/${sessionKvKey(key)}`);
    const k = sessionKvKey(key);
    const value = encode(record);
    try {
      return expected === 0 ? await this.kv.create(k, value) : await this.kv.update(k, value, expected);
    } catch (e) {
      if (isConflict(e)) throw new RevisionConflictError(`session ${k} changed (expected revision ${expected})`);
      throw e;
    }
  }

  async delete(key: SessionKey): Promise<boolean> {
    const existed = (await this.get(key)) !== null;
    await this.kv.purge(sessionKvKey(key));
    return existed;
  }

  async list(scope: TenantScope, opts: { after?: string; limit?: number } = {}): Promise<string[]> {
    const k = sessionKey(scope, 'x');
    const ids: string[] = [];
    for await (const key of await this.kv.keys(`${k.tenant}.${k.env}.${k.team}.*`)) ids.push(key.split('.')[3]!);
    ids.sort();
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
