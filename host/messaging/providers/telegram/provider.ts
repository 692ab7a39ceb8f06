import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { attachmentKind, boundedAttachments } from '../attachments.js';
import { whereToSet } from '../credentials.js';
import { callProvider, DELIVERED, isResult, permanent, transient } from '../delivery-results.js';
import { endpointUrl } from '../endpoints.js';
import { answerJson } from '../http-client.js';
import { notReady, singleHeader, unauthorized, type ChannelProvider, type WebhookEvent } from '../provider.js';
import type { AttachmentRef } from '../../envelope.js';
import { TelegramChannelConfigSchema, type TelegramChannelConfig } from './config.js';

const intId = z.number().int().safe();
const fileRef = z.object({
  file_id: z.string().min(1).max(512),
  file_name: z.string().max(1024).optional(),
  mime_type: z.string().max(256).optional(),
  file_size: z.number().optional(),
});

/** The parts of an Update the host reads. */
const UpdateBody = z.object({
  update_id: intId,
  message: z
    .object({
      message_id: intId,
      from: z.object({ id: intId, is_bot: z.boolean(), username: z.string().max(64).optional(), first_name: z.string().max(256).optional() }).optional(),
      chat: z.object({ id: intId }),
      text: z.string().max(1_000_000).optional(),
      caption: z.string().max(1_000_000).optional(),
      photo: z.array(fileRef).max(100).optional(),
      document: fileRef.optional(),
      audio: fileRef.optional(),
      voice: fileRef.optional(),
      video: fileRef.optional(),
    })
    .optional(),
});

/** Where a Telegram reply goes: the chat, as a reply to the message when there is one. */
const TelegramReplyTo = z.strictObject({
  chat_id: z.string().regex(/^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/),
  message_id: z
    .string()
    .regex(/^[0-9]{1,20}$/)
    .optional(),
});

/** Telegram (a webhook set with setWebhook and a secret_token in, sendMessage out). */
export const telegramProvider: ChannelProvider<TelegramChannelConfig> = {
  name: 'telegram',
  configSchema: TelegramChannelConfigSchema,
  maxBodyBytes: 1024 * 1024,
  maxTextChars: 4096,
  ackWaitMs: 10_000,
  replyToSchema: TelegramReplyTo,

  async verify(req, ctx) {
    const expected = await ctx.secrets.get(ctx.config.secret_token);
    if (expected === null) return notReady(whereToSet(ctx.address, ctx.config.secret_token));
    const given = singleHeader(req.headers, 'x-telegram-bot-api-secret-token');
    if (given === undefined) return unauthorized('missing-signature', 'the request needs one X-Telegram-Bot-Api-Secret-Token header');
    // Digests are compared, so neither the time nor a length check says anything about the secret.
    const digest = (s: string) => createHash('sha256').update(s).digest();
    return timingSafeEqual(digest(given), digest(expected))
      ? { ok: true, proof: {} }
      : unauthorized('invalid-signature', 'X-Telegram-Bot-Api-Secret-Token does not match the secret_token of this channel');
  },

  normalise(body, _proof, _req, ctx): WebhookEvent {
    const u = UpdateBody.safeParse(body);
    if (!u.success) return { kind: 'refused', refusal: { status: 400, code: 'invalid-event', message: 'the body is not a Telegram Update' } };
    const m = u.data.message;
    if (!m) return { kind: 'ignored', reason: 'an update that is not a new message' };
    if (!m.from) return { kind: 'ignored', reason: 'a message without a sender' };
    if (m.from.is_bot) return { kind: 'ignored', reason: "a bot's message" };
    const chat = String(m.chat.id);
    if (ctx.config.chat_id !== undefined && chat !== ctx.config.chat_id) return { kind: 'ignored', reason: 'a message in another chat' };
    const files: AttachmentRef[] = [];
    // Telegram sends a photo in several sizes: the largest is the photo.
    const photo = m.photo?.at(-1);
    if (photo) files.push({ kind: 'image', ref: `telegram-file:${photo.file_id}`, mime: 'image/jpeg', size: photo.file_size });
    for (const [kind, f] of [
      ['file', m.document],
      ['audio', m.audio],
      ['audio', m.voice],
      ['video', m.video],
    ] as const) {
      if (f)
        files.push({
          kind: kind === 'file' ? attachmentKind(f.mime_type) : kind,
          ref: `telegram-file:${f.file_id}`,
          name: f.file_name,
          mime: f.mime_type,
          size: f.file_size,
        });
    }
    return {
      kind: 'message',
      message: {
        eventId: String(u.data.update_id),
        messageId: String(m.message_id),
        userId: String(m.from.id),
        userName: m.from.username ?? m.from.first_name,
        text: m.text ?? m.caption ?? '',
        attachments: boundedAttachments(files),
        replyTo: { chat_id: chat, message_id: String(m.message_id) },
      },
    };
  },

  async deliver(out, ctx) {
    const to = TelegramReplyTo.safeParse(out.replyTo);
    if (!to.success) return permanent('bad-reply-target', 'the reply names no valid Telegram chat');
    const token = await ctx.secrets.get(ctx.config.bot_token);
    if (token === null) return permanent('credentials-missing', whereToSet(ctx.address, ctx.config.bot_token));
    // The token is part of the URL path: only a token's own characters may get there.
    if (!/^[0-9]{1,20}:[A-Za-z0-9_-]{20,200}$/.test(token))
      return permanent('bad-credentials', `secret "${ctx.config.bot_token}" does not hold a Telegram bot token (123456:ABC...)`);
    const answer = await callProvider(
      ctx.http,
      {
        method: 'POST',
        url: endpointUrl(ctx.endpoints.telegram.apiBaseUrl, `bot${token}/sendMessage`),
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          chat_id: to.data.chat_id,
          text: out.text,
          ...(to.data.message_id ? { reply_parameters: { message_id: Number(to.data.message_id), allow_sending_without_reply: true } } : {}),
        }),
        timeoutMs: out.timeoutMs,
        maxResponseBytes: 256 * 1024,
      },
      'Telegram',
    );
    if (isResult(answer)) return answer;
    const json = answerJson(answer) as { ok?: unknown; description?: unknown; parameters?: { retry_after?: unknown } } | undefined;
    if (answer.status >= 200 && answer.status < 300 && json?.ok === true) return DELIVERED;
    const what = typeof json?.description === 'string' ? json.description.slice(0, 200) : `HTTP ${answer.status}`;
    if (answer.status === 429) {
      const after = typeof json?.parameters?.retry_after === 'number' ? json.parameters.retry_after * 1000 : undefined;
      const r = transient('rate-limited', `Telegram answered 429 (${what})`, 429, answer.headers);
      return r.ok ? r : { ...r, retryAfterMs: r.retryAfterMs ?? after };
    }
    if (answer.status >= 500) return transient('provider-error', `Telegram answered ${answer.status} (${what})`, answer.status, answer.headers);
    return permanent('provider-refused', `Telegram answered ${answer.status} (${what})`, answer.status);
  },
};
