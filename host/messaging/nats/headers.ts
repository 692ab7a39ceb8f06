import { createHash } from 'node:crypto';
import { isValidId, quoteForMessage } from '../../tenancy/ids.js';

/** Longest header value the host sends (Nats-Msg-Id and its own headers). */
export const MAX_HEADER_VALUE = 256;

/** A header value the host was about to send is not one NATS can carry; nothing was published. */
export class InvalidHeaderError extends Error {
  override readonly name = 'InvalidHeaderError';
}

/**
 * Check a header value before it is published: printable ASCII only (no CR, LF or other control
 * characters, which would end the header block or break the protocol line), at most
 * MAX_HEADER_VALUE characters. Ids that reach headers come from messages, so an attacker chose them.
 */
export function checkHeaderValue(name: string, value: string): string {
  if (value.length === 0) throw new InvalidHeaderError(`header ${name} would be empty`);
  if (value.length > MAX_HEADER_VALUE)
    throw new InvalidHeaderError(`header ${name} would be ${value.length} characters long; the limit is ${MAX_HEADER_VALUE}`);
  if (!/^[\x21-\x7e][\x20-\x7e]*$/.test(value))
    throw new InvalidHeaderError(`header ${name} value ${quoteForMessage(value)} has characters NATS headers cannot carry`);
  return value;
}

/**
 * The message id to answer under: the sender's id when it is a valid id, else a stable stand-in
 * derived from the raw bytes (so a redelivery of the same bad message gets the same id and the
 * stream stores its answer once).
 */
export function answerId(claimed: unknown, data: Uint8Array): string {
  if (isValidId(claimed)) return claimed;
  return `x${createHash('sha256').update(data).digest('hex').slice(0, 40)}`;
}
