import { z } from 'zod';
import type { RichMessage } from '../greentic/rich-message.js';
import { idSchema } from '../tenancy/config/schema.js';

/** Longest message text accepted on ingress. */
export const MAX_TEXT_BYTES = 64 * 1024;

/** A provider's own id (event, message, user): printable ASCII, bounded. */
const providerId = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'expected printable ASCII without spaces');

/** Most attachments one message carries (as references). */
export const MAX_ATTACHMENTS = 20;

/** A file that came with a message: a reference (the provider's file id or URL), never its bytes. */
export const AttachmentRefSchema = z.strictObject({
  kind: z.enum(['image', 'audio', 'video', 'file']),
  ref: z.string().min(1).max(2048),
  name: z.string().max(256).optional(),
  mime: z.string().max(128).optional(),
  size: z.number().int().nonnegative().optional(),
});
export type AttachmentRef = z.infer<typeof AttachmentRefSchema>;

/**
 * Where the provider wants a reply to go (a Slack channel and thread, a Telegram chat, a Bot
 * Framework conversation): a few named strings, checked again by the provider's own schema
 * before anything is sent. Keys start with a letter, so no key is "__proto__".
 */
export const ReplyToSchema = z
  .record(z.string().regex(/^[a-z][a-z_]{0,31}$/), z.string().max(2048))
  .refine((o) => Object.keys(o).length <= 12, 'at most 12 keys');
export type ReplyTo = z.infer<typeof ReplyToSchema>;

/** What a channel provider's webhook said about a message, besides its text. */
export const OriginSchema = z.strictObject({
  provider: z.enum(['slack', 'telegram', 'teams']),
  /** The provider's id of the delivery (Slack event_id, Telegram update_id, Bot Framework activity id). */
  event_id: providerId,
  /** The provider's id of the message itself (Slack ts, Telegram message_id, activity id). */
  message_id: providerId,
  /** The provider's id of the sender (the envelope's `user` is derived from it). */
  user_id: providerId,
  user_name: z.string().max(256).optional(),
  attachments: z.array(AttachmentRefSchema).max(MAX_ATTACHMENTS).optional(),
  reply_to: ReplyToSchema,
});
export type MessageOrigin = z.infer<typeof OriginSchema>;

/**
 * The body of an ingress message. It carries who and what, never where: the tenant scope
 * comes from the subject alone.
 */
export const IngressSchema = z.strictObject({
  id: idSchema('message'),
  user: idSchema('user'),
  text: z.string().max(MAX_TEXT_BYTES),
  /** Continue this session instead of the user's default one on the channel (webchat cookies). */
  session: idSchema('session').optional(),
  trace: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional(),
  /** Set by a channel provider's webhook: the provider's ids, attachments, and where replies go. */
  origin: OriginSchema.optional(),
});
export type IngressMessage = z.infer<typeof IngressSchema>;

/**
 * The body of an egress message: one reply, or the end of a turn, or its failure. A reply to a
 * message that came through a provider's webhook carries its `reply_to`: the provider's
 * egress delivers exactly those replies.
 */
export type EgressMessage =
  /** `rich`: a structured message (buttons, a card, attachments) for channels that render one; `text` is always its text-only fallback. */
  | { kind: 'reply'; in_reply_to: string; session: string; user: string; text: string; seq: number; reply_to?: ReplyTo; rich?: RichMessage }
  | { kind: 'turn-end'; in_reply_to: string; session: string; user: string; replies: number }
  | { kind: 'error'; in_reply_to: string; session: string | null; user: string; code: string; message: string; retryable: boolean };

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** Decode a JSON body; a body that is not UTF-8 JSON is reported, not thrown through. */
export function decodeJson(data: Uint8Array): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(dec.decode(data)) };
  } catch (e) {
    return { ok: false, error: e instanceof SyntaxError ? `not JSON: ${e.message}` : 'not UTF-8 text' };
  }
}
