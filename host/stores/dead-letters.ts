import type { BusMessage, UnhandleableMessageError } from '../messaging/bus.js';
import { parseChannelSubject } from '../messaging/subjects.js';
import type { Logger } from '../observability/logger.js';
import { redactCredentials } from '../observability/redact.js';
import { checkId } from '../tenancy/ids.js';

/** Where a dead letter was going when it could not be handled. */
export type DeadLetterSource = 'ingress' | 'egress';

/** Why a message became a dead letter (stable codes; `detail` says more). */
export type DeadLetterReason =
  | 'invalid-message' // the body is not a valid message (JSON, schema, ids)
  | 'invalid-header' // a header the answer needed could not be carried
  | 'corrupt-session' // the session it belongs to cannot be read
  | 'max-deliveries' // failed on every delivery allowed
  | 'undeliverable'; // egress a provider could not deliver

/** What is recorded about a message that cannot be handled. */
export interface DeadLetterInput {
  readonly tenant: string;
  readonly source: DeadLetterSource;
  /** The subject it was published on (within the tenant's subjects). */
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reason: DeadLetterReason;
  /** What went wrong, for the operator (bounded, credentials redacted). */
  readonly detail: string;
  /** How often it was delivered before it was given up on. */
  readonly deliveries: number;
  /** Recording the same message again (a redelivery) with this key stores it once, where the backend can. */
  readonly dedupKey?: string;
}

/** One stored dead letter. */
export interface DeadLetter extends DeadLetterInput {
  /** The letter's id in its tenant's store (valid id grammar, sortable by age). */
  readonly id: string;
  /** When it was recorded (ms since the epoch). */
  readonly at: number;
}

/** Something that can publish a replayed message back where it was going (a MessageBus). */
export interface ReplayTarget {
  publishDurable(subject: string, data: Uint8Array, id: string): Promise<void>;
}

/**
 * Per-tenant dead letters: messages the host could not handle (and later, egress a provider
 * could not deliver), kept with their reason so an operator can list, inspect, replay or drop
 * them. Every call names its tenant; one tenant's letters are never listed, read, replayed or
 * deleted through another's.
 */
export interface DeadLetterStore {
  /** Store a letter; returns its id. */
  record(letter: DeadLetterInput): Promise<string>;
  /** The tenant's letters, oldest first, starting after id `after`. */
  list(tenant: string, opts?: { after?: string; limit?: number }): Promise<DeadLetter[]>;
  get(tenant: string, id: string): Promise<DeadLetter | null>;
  /** Publish the letter again on its subject (a fresh message id), then delete it; false if there is no such letter. */
  replay(tenant: string, id: string, target: ReplayTarget): Promise<boolean>;
  delete(tenant: string, id: string): Promise<boolean>;
}

/** Longest `detail` kept. */
export const MAX_DETAIL = 2000;

/** Check a letter before it is stored: tenant id, a subject of that tenant, a bounded and redacted detail. */
export function checkLetter(letter: DeadLetterInput): DeadLetterInput {
  const tenant = checkId('tenant', letter.tenant, 'dead letter');
  checkSubjectOf(tenant, letter.subject);
  // Redacted first: a cut could otherwise leave half a credential the patterns no longer see.
  const redacted = redactCredentials(letter.detail);
  const detail = redacted.length > MAX_DETAIL ? `${redacted.slice(0, MAX_DETAIL - 3)}...` : redacted;
  return { ...letter, tenant, detail };
}

/**
 * A replay may only publish on a subject of the letter's own tenant. Ingress subjects with bad
 * tokens (which is why some letters are letters) are still the tenant's when the stream that
 * captured them was the tenant's, so only the prefix and the tenant token are required here.
 */
export function checkSubjectOf(tenant: string, subject: string): void {
  const tokens = subject.split('.');
  if (
    tokens.length === 7 &&
    tokens[0] === 'greentic' &&
    tokens[1] === 'messaging' &&
    (tokens[2] === 'ingress' || tokens[2] === 'egress') &&
    tokens[4] === tenant
  ) {
    // A replay goes through parse below; recording keeps whatever the tenant's stream captured.
    return;
  }
  throw new RangeError(`dead letter subject ${JSON.stringify(subject.slice(0, 200))} is not a channel subject of tenant ${tenant}`);
}

/** The subject a replay publishes on: it must be a well-formed channel subject of the tenant. */
export function replaySubject(letter: DeadLetter): string {
  const parsed = parseChannelSubject(letter.subject);
  if (parsed.address.tenant !== letter.tenant) throw new RangeError(`dead letter ${letter.id} of tenant ${letter.tenant} names another tenant's subject`);
  return letter.subject;
}

/** Replay through any backend: publish the letter on its subject under a fresh id, then delete it. */
export async function replayLetter(store: DeadLetterStore, tenant: string, id: string, target: ReplayTarget): Promise<boolean> {
  const l = await store.get(tenant, id);
  if (!l) return false;
  await target.publishDurable(replaySubject(l), l.data, replayMessageId(l));
  return store.delete(tenant, id);
}

/** The message id a replay is published with (never the original: the stream would drop it as a duplicate). */
export function replayMessageId(letter: DeadLetter): string {
  return `replay-${letter.id}-${Date.now().toString(36)}`;
}

/** Keep a message a bus without redelivery (the embedded one) could not handle; a failure to keep it is logged, never thrown. */
export async function keepUnhandled(store: DeadLetterStore, logger: Logger, err: UnhandleableMessageError, msg: BusMessage): Promise<void> {
  const tenant = msg.subject.split('.')[4] ?? '';
  try {
    const id = await store.record({ tenant, source: 'ingress', subject: msg.subject, data: msg.data, reason: err.reason, detail: err.message, deliveries: 1 });
    logger.warn(
      { event: 'dead-letter', tenant_id: tenant, reason: err.reason, detail: err.message, dead_letter_id: id },
      'message cannot be handled; kept as a dead letter',
    );
  } catch (e) {
    logger.error({ event: 'dead-letter-failed', subject: msg.subject, err: String(e) }, 'could not record a dead letter');
  }
}
