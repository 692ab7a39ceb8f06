import { decode, encode } from 'cbor-x';
import { checkHeaderValue } from '../messaging/nats/headers.js';
import type { NatsLinks } from '../messaging/nats/links.js';
import { deadLetterStream, deadLetterSubject } from '../messaging/nats/resources.js';
import { checkId } from '../tenancy/ids.js';
import { checkLetter, replayLetter, type DeadLetter, type DeadLetterInput, type DeadLetterStore, type ReplayTarget } from './dead-letters.js';

/** Width of a letter id: the stream sequence, zero-padded so ids sort by age. */
const ID_DIGITS = 12;

/**
 * Dead letters in a JetStream stream per tenant (GREENTIC_DLQ_{tenant}, in the tenant's account
 * when it has one): the letter's id is its stream sequence. Bounded per tenant (max messages and
 * bytes, new letters refused when full); a redelivered poison message recorded twice within the
 * duplicate window is stored once (its dedup key is the Nats-Msg-Id).
 */
export class NatsDeadLetterStore implements DeadLetterStore {
  constructor(private readonly links: NatsLinks) {}

  async record(input: DeadLetterInput): Promise<string> {
    const letter = checkLetter(input);
    const { js } = this.links.forTenant(letter.tenant);
    const at = Date.now();
    const body = encode({ ...letter, data: Buffer.from(letter.data), at });
    const msgID = letter.dedupKey === undefined ? undefined : checkHeaderValue('Nats-Msg-Id', letter.dedupKey);
    const ack = await js.publish(deadLetterSubject(letter.tenant), body, { msgID, timeout: 5000 });
    return toId(ack.seq);
  }

  async list(tenant: string, opts: { after?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const t = checkId('tenant', tenant, 'dead-letter store');
    const limit = opts.limit ?? 100;
    let seq = opts.after === undefined ? 1 : (fromId(opts.after) ?? 0) + 1;
    const out: DeadLetter[] = [];
    while (out.length < limit) {
      const l = await this.#at(t, { seq, next_by_subj: deadLetterSubject(t) });
      if (!l) break;
      out.push(l);
      seq = Number(l.id) + 1;
    }
    return out;
  }

  async get(tenant: string, id: string): Promise<DeadLetter | null> {
    const seq = fromId(id);
    return seq === null ? null : this.#at(checkId('tenant', tenant, 'dead-letter store'), { seq });
  }

  async #at(tenant: string, query: { seq: number; next_by_subj?: string }): Promise<DeadLetter | null> {
    const { jsm } = this.links.forTenant(tenant);
    let m;
    try {
      m = await jsm.streams.getMessage(deadLetterStream(tenant), query as { seq: number });
    } catch (e) {
      if (/no message found|not found/i.test((e as Error).message)) return null;
      throw e;
    }
    if (!m || m.subject !== deadLetterSubject(tenant)) return null;
    const stored = decode(m.data) as Omit<DeadLetter, 'id'>;
    // The stream is the tenant's own; a record naming another tenant would be a bug, not data.
    if (stored?.tenant !== tenant) return null;
    return { ...stored, data: new Uint8Array(stored.data), id: toId(m.seq) };
  }

  replay(tenant: string, id: string, target: ReplayTarget): Promise<boolean> {
    return replayLetter(this, tenant, id, target);
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    const t = checkId('tenant', tenant, 'dead-letter store');
    const seq = fromId(id);
    // Only a letter of this tenant's stream (a missing sequence is "store EOF" to the server, not "not found").
    if (seq === null || !(await this.#at(t, { seq }))) return false;
    try {
      return await this.links.forTenant(t).jsm.streams.deleteMessage(deadLetterStream(t), seq, false);
    } catch (e) {
      if (/no message found|not found/i.test((e as Error).message)) return false;
      throw e;
    }
  }
}

function toId(seq: number): string {
  return String(seq).padStart(ID_DIGITS, '0');
}

/** A letter id back to its sequence; anything that is not one is simply not found. */
function fromId(id: string): number | null {
  if (typeof id !== 'string' || !/^[0-9]{1,15}$/.test(id)) return null;
  const n = Number(id);
  return n >= 1 && Number.isSafeInteger(n) ? n : null;
}
