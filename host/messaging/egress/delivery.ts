import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ReplyToSchema, type ReplyTo } from '../envelope.js';
import type { ChannelAddress } from '../subjects.js';

/**
 * Where one reply's delivery stands, kept durably (a KV entry on NATS, a file on the embedded
 * defaults) before and after each request to the provider:
 * - queued, retrying: no request of it is out; whoever holds it may send it;
 * - in-flight: a request is (or was, if its instance died) out; the provider may have it;
 * - sent, dead: over (delivered, or kept as a dead letter).
 * Found in-flight by the next instance, a reply is not sent again (no provider here can tell a
 * message sent twice): it becomes a dead letter an operator may replay.
 */
export type DeliveryState = 'queued' | 'in-flight' | 'retrying' | 'sent' | 'dead';

export interface DeliveryRecord {
  readonly state: DeliveryState;
  /** Requests made so far. */
  readonly attempts: number;
  /** The part of a long reply to send next. */
  readonly part: number;
  /** When the reply was first queued (ms since the epoch). */
  readonly queuedAt: number;
  readonly lastError?: string | undefined;
}

export const DeliveryRecordSchema = z.strictObject({
  state: z.enum(['queued', 'in-flight', 'retrying', 'sent', 'dead']),
  attempts: z.number().int().nonnegative(),
  part: z.number().int().nonnegative(),
  queuedAt: z.number(),
  lastError: z.string().max(2000).optional(),
});

/** A fresh record for a reply just taken in. */
export function queuedRecord(now = Date.now()): DeliveryRecord {
  return { state: 'queued', attempts: 0, part: 0, queuedAt: now };
}

/** The parts of an egress reply the delivery reads. */
export const DeliverableReplySchema = z.object({
  kind: z.literal('reply'),
  in_reply_to: z.string().max(256),
  session: z.string().max(256),
  text: z.string(),
  seq: z.number().int().nonnegative(),
  reply_to: ReplyToSchema,
});
export type DeliverableReply = z.infer<typeof DeliverableReplySchema>;

/** One reply waiting for delivery, with the durable record of its progress. */
export interface PendingDelivery {
  readonly address: ChannelAddress;
  readonly subject: string;
  /** The egress message as it was published (what a dead letter keeps, and a replay sends again). */
  readonly data: Uint8Array;
  readonly reply: DeliverableReply & { reply_to: ReplyTo };
  record: DeliveryRecord;
  readonly handle: DeliveryHandle;
}

/** How a delivery's progress is kept, and how its source is let go when it is over. */
export interface DeliveryHandle {
  /** Make `record` durable; throws DeliveryTakenOver when another instance has the reply now. */
  save(record: DeliveryRecord): Promise<void>;
  /** The delivery is over (sent, or a dead letter): acknowledge its stream message, or remove its file. */
  finish(): Promise<void>;
}

/** Another instance took the reply over (its record changed under us): this one lets go without acknowledging. */
export class DeliveryTakenOver extends Error {
  override readonly name = 'DeliveryTakenOver';
}

/** The key of a reply's record: its channel and a digest of the message id it was published under (a replay has a new one). */
export function deliveryKey(address: ChannelAddress, messageId: string): string {
  return `${address.env}.${address.team}.${address.channel}.${createHash('sha256').update(messageId).digest('hex').slice(0, 40)}`;
}

/**
 * Split `text` into parts of at most `max` characters for a provider that takes no more,
 * preferring to cut at a line break or a space, and never inside a surrogate pair.
 */
export function splitText(text: string, max: number): string[] {
  if (text.length <= max) return [text];
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = Math.max(rest.lastIndexOf('\n', max), rest.lastIndexOf(' ', max));
    if (cut < max / 2) cut = max;
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut--;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^[\n ]/, '');
  }
  if (rest.length > 0) parts.push(rest);
  return parts;
}

/** The wait before attempt n+1: exponential from 1 s, capped at 60 s, with full jitter; at least what the provider asked for. */
export function retryDelayMs(attempts: number, retryAfterMs: number | undefined, random = Math.random): number {
  // Honouring Retry-After exactly, plus a little jitter, so many waiting replies do not return at once.
  if (retryAfterMs !== undefined) return Math.min(3_600_000, retryAfterMs) + Math.floor(random() * 250);
  const ceiling = Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1));
  return Math.max(100, Math.floor(random() * ceiling));
}
