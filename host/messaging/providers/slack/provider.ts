import { z } from 'zod';
import { attachmentKind, boundedAttachments } from '../attachments.js';
import { whereToSet } from '../credentials.js';
import { callProvider, DELIVERED, isResult, permanent, statusFailure, transient } from '../delivery-results.js';
import { endpointUrl } from '../endpoints.js';
import { answerJson } from '../http-client.js';
import { notReady, type ChannelContext, type ChannelProvider, type DeliveryResult, type OutboundText, type WebhookEvent } from '../provider.js';
import { SlackChannelConfigSchema, type SlackChannelConfig } from './config.js';
import { verifySlackSignature } from './signature.js';

const slackId = z.string().regex(/^[A-Z0-9]{1,32}$/);
const slackTs = z.string().regex(/^[0-9]{1,12}\.[0-9]{1,9}$/);

/** The parts of an Events API body the host reads (everything else is ignored). */
const EventBody = z.union([
  z.object({
    type: z.literal('url_verification'),
    challenge: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[\x21-\x7e]+$/),
  }),
  z.object({
    type: z.literal('event_callback'),
    team_id: slackId,
    event_id: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[\x21-\x7e]+$/),
    event: z.object({ type: z.string().max(64) }).passthrough(),
  }),
  // Other request types are answered (and ignored); a malformed one of the two above is not.
  z.object({
    type: z
      .string()
      .max(64)
      .refine((t) => t !== 'url_verification' && t !== 'event_callback'),
  }),
]);

const MessageEvent = z.object({
  type: z.enum(['message', 'app_mention']),
  subtype: z.string().max(64).optional(),
  bot_id: z.string().optional(),
  channel: slackId,
  user: slackId,
  text: z.string().max(1_000_000).default(''),
  ts: slackTs,
  thread_ts: slackTs.optional(),
  files: z
    .array(z.object({ id: z.string().max(256), name: z.string().max(1024).optional(), mimetype: z.string().max(256).optional(), size: z.number().optional() }))
    .max(1000)
    .optional(),
});

/** Message subtypes that are a person saying something; the rest (edits, joins, bots) are not answered. */
const ANSWERED_SUBTYPES = new Set(['file_share', 'thread_broadcast']);

/** Where a Slack reply goes: the channel, and the thread when the message was in one. */
const SlackReplyTo = z.strictObject({ channel: slackId, thread_ts: slackTs.optional() });

/** Slack's `ok: false` errors that a later attempt may get past. */
const RETRYABLE_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

/** Slack (Events API in, chat.postMessage out). */
export const slackProvider: ChannelProvider<SlackChannelConfig> = {
  name: 'slack',
  configSchema: SlackChannelConfigSchema,
  maxBodyBytes: 256 * 1024,
  maxTextChars: 40_000,
  // Slack sends an event again when it has no answer within 3 s.
  ackWaitMs: 2500,
  replyToSchema: SlackReplyTo,

  async verify(req, ctx) {
    const secret = await ctx.secrets.get(ctx.config.signing_secret);
    if (secret === null) return notReady(whereToSet(ctx.address, ctx.config.signing_secret));
    const v = verifySlackSignature(req, secret);
    return v.ok ? { ok: true, proof: {} } : v;
  },

  normalise(body, _proof, _req, ctx): WebhookEvent {
    const b = EventBody.safeParse(body);
    if (!b.success) return invalid('the body is not a Slack Events API request');
    const d = b.data;
    if (d.type === 'url_verification' && 'challenge' in d) return { kind: 'handshake', body: { challenge: d.challenge } };
    if (d.type !== 'event_callback' || !('event' in d)) return { kind: 'ignored', reason: `Slack request type "${d.type}"` };
    const workspace = ctx.config.workspace_id;
    if (workspace !== undefined && d.team_id !== workspace) {
      return {
        kind: 'refused',
        refusal: { status: 403, code: 'foreign-workspace', message: `the event is from Slack workspace ${d.team_id}, not this channel's ${workspace}` },
      };
    }
    if (d.event.type !== 'message' && d.event.type !== 'app_mention') return { kind: 'ignored', reason: `Slack event type "${d.event.type}"` };
    // A bot's message (this bot's own replies included) is never answered: no loops.
    if (typeof d.event.bot_id === 'string' || (typeof d.event.subtype === 'string' && !ANSWERED_SUBTYPES.has(d.event.subtype))) {
      return { kind: 'ignored', reason: `a message with subtype "${String(d.event.subtype ?? 'bot')}"` };
    }
    const e = MessageEvent.safeParse(d.event);
    if (!e.success) return invalid(`the event is not a Slack message: ${e.error.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; ')}`);
    const m = e.data;
    if (ctx.config.channel_id !== undefined && m.channel !== ctx.config.channel_id) return { kind: 'ignored', reason: 'a message in another Slack channel' };
    return {
      kind: 'message',
      message: {
        eventId: d.event_id,
        messageId: m.ts,
        userId: m.user,
        text: m.text,
        attachments: boundedAttachments(
          (m.files ?? []).map((f) => ({ kind: attachmentKind(f.mimetype), ref: `slack-file:${f.id}`, name: f.name, mime: f.mimetype, size: f.size })),
        ),
        replyTo: m.thread_ts === undefined ? { channel: m.channel } : { channel: m.channel, thread_ts: m.thread_ts },
      },
    };
  },

  async deliver(out: OutboundText, ctx: ChannelContext<SlackChannelConfig>): Promise<DeliveryResult> {
    const to = SlackReplyTo.safeParse(out.replyTo);
    if (!to.success) return permanent('bad-reply-target', 'the reply names no valid Slack channel');
    const token = await ctx.secrets.get(ctx.config.bot_token);
    if (token === null) return permanent('credentials-missing', whereToSet(ctx.address, ctx.config.bot_token));
    if (!/^xox[a-z]-[A-Za-z0-9-]{1,500}$/.test(token))
      return permanent('bad-credentials', `secret "${ctx.config.bot_token}" does not hold a Slack bot token (xoxb-...)`);
    const answer = await callProvider(
      ctx.http,
      {
        method: 'POST',
        url: endpointUrl(ctx.endpoints.slack.apiBaseUrl, 'chat.postMessage'),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ channel: to.data.channel, text: out.text, ...(to.data.thread_ts ? { thread_ts: to.data.thread_ts } : {}) }),
        timeoutMs: out.timeoutMs,
        maxResponseBytes: 256 * 1024,
      },
      'Slack',
    );
    if (isResult(answer)) return answer;
    const byStatus = statusFailure(answer, 'Slack');
    if (byStatus) return byStatus;
    const json = answerJson(answer) as { ok?: unknown; error?: unknown } | undefined;
    if (json?.ok === true) return DELIVERED;
    const error = typeof json?.error === 'string' ? json.error.slice(0, 100) : 'unknown_error';
    if (RETRYABLE_ERRORS.has(error)) return transient(`slack:${error}`, `Slack answered ok: false (${error})`, answer.status, answer.headers);
    return permanent(`slack:${error}`, `Slack answered ok: false (${error})`, answer.status);
  },
};

function invalid(message: string): WebhookEvent {
  return { kind: 'refused', refusal: { status: 400, code: 'invalid-event', message } };
}
