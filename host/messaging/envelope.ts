import { z } from 'zod';
import type { RichMessage } from '../greentic/rich-message.js';
import { idSchema } from '../tenancy/config/schema.js';

/** Longest message text accepted on ingress. */
export const MAX_TEXT_BYTES = 64 * 1024;

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
});
export type IngressMessage = z.infer<typeof IngressSchema>;

/** The body of an egress message: one reply, or the end of a turn, or its failure. */
export type EgressMessage =
  /** `rich`: a structured message (buttons, a card, attachments) for channels that render one; `text` is always its text-only fallback. */
  | { kind: 'reply'; in_reply_to: string; session: string; user: string; text: string; seq: number; rich?: RichMessage }
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
