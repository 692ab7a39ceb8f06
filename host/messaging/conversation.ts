import { randomHex } from '../util/random-hex.js';
import type { MessageBus, PublishOptions } from './bus.js';
import { decodeJson, encodeJson, type EgressMessage, type IngressMessage } from './envelope.js';
import { egressSubject, ingressSubject, type ChannelAddress } from './subjects.js';

/** What one message got back: the replies on its channel, the session, or the turn's error. */
export type ConversationReply =
  | { ok: true; id: string; session: string; replies: string[] }
  | { ok: false; id: string; session: string | null; code: string; message: string; retryable: boolean };

/** No answer came in time. */
export class ReplyTimeoutError extends Error {
  override readonly name = 'ReplyTimeoutError';
}

/** A fresh message id: 24 hex digits, valid in the id grammar. */
export function newMessageId(): string {
  return `m${randomHex(12)}`;
}

/**
 * Talk to a channel the way a provider does: publish on its ingress subject, collect what
 * comes back on its egress subject for that message id until the turn ends.
 */
export async function converse(
  bus: MessageBus,
  address: ChannelAddress,
  message: Omit<IngressMessage, 'id'> & { id?: string },
  timeoutMs = 30_000,
  opts: PublishOptions = {},
): Promise<ConversationReply> {
  const id = message.id ?? newMessageId();
  // By seq: a reply republished after a redelivery carries the same seq and is kept once, and
  // matching stays linear however many replies a turn sends.
  const replies = new Map<number, string>();
  let settle!: (r: ConversationReply) => void;
  const done = new Promise<ConversationReply>((r) => (settle = r));
  const sub = bus.subscribe(egressSubject(address), (m) => {
    const d = decodeJson(m.data);
    if (!d.ok) return;
    const e = d.value as EgressMessage;
    if (e?.in_reply_to !== id) return;
    if (e.kind === 'reply') {
      if (!replies.has(e.seq)) replies.set(e.seq, e.text);
    } else if (e.kind === 'turn-end') settle({ ok: true, id, session: e.session, replies: [...replies].sort((a, b) => a[0] - b[0]).map(([, text]) => text) });
    else if (e.kind === 'error') settle({ ok: false, id, session: e.session, code: e.code, message: e.message, retryable: e.retryable });
  });
  // One deadline for the whole exchange: a stream that cannot take the message (no host ever
  // served the tenant on this server) must not hold the caller past it in publish retries.
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new ReplyTimeoutError(`no answer from ${address.tenant}/${address.env}/${address.team}/${address.channel} within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const timedOut = new Promise<never>((_, reject) => deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason), { once: true }));
  timedOut.catch(() => undefined);
  try {
    await Promise.race([bus.publishDurable(ingressSubject(address), encodeJson({ ...message, id }), id, { ...opts, signal: deadline.signal }), timedOut]);
    return await Promise.race([done, timedOut]);
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}
