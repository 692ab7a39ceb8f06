import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';
import { attachmentKind, boundedAttachments } from '../attachments.js';
import { whereToSet } from '../credentials.js';
import { callProvider, DELIVERED, isResult, permanent, statusFailure, transient } from '../delivery-results.js';
import { endpointUrl, urlAllowed, type ProviderEndpoints } from '../endpoints.js';
import type { ProviderHttp } from '../http-client.js';
import { notReady, singleHeader, unauthorized, type ChannelProvider, type WebhookEvent } from '../provider.js';
import { TeamsChannelConfigSchema, type TeamsChannelConfig } from './config.js';
import { BotFrameworkKeys } from './keys.js';
import { BotTokens } from './tokens.js';

/** Clock skew allowed on a token's exp and nbf (Bot Framework's advice). */
const CLOCK_SKEW_S = 300;

const bfId = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[\x21-\x7e]+$/);
const Activity = z.object({
  type: z.string().max(64),
  id: bfId.optional(),
  serviceUrl: z.string().max(512),
  channelId: z.string().max(64),
  from: z.object({ id: bfId, name: z.string().max(256).optional() }).optional(),
  recipient: z.object({ id: bfId, name: z.string().max(256).optional() }).optional(),
  conversation: z.object({ id: bfId }).optional(),
  text: z.string().max(1_000_000).optional(),
  attachments: z
    .array(
      z
        .object({ contentType: z.string().max(256).optional(), contentUrl: z.string().max(2048).optional(), name: z.string().max(1024).optional() })
        .passthrough(),
    )
    .max(1000)
    .optional(),
});

/** Where a Bot Framework reply goes: the conversation and activity it answers, on that activity's serviceUrl. */
const TeamsReplyTo = z.strictObject({
  service_url: z.string().max(512),
  conversation_id: bfId,
  activity_id: bfId,
  bot_id: bfId,
  bot_name: z.string().max(256).optional(),
  user_id: bfId,
  user_name: z.string().max(256).optional(),
});

/**
 * Microsoft Teams through Bot Framework: an activity comes with a JWT signed by a key of the
 * configured OpenID metadata (issuer and audience = the bot's app id checked, 5 minutes of
 * skew), from a serviceUrl on the operator's allow-list; replies go to that serviceUrl with a
 * token the bot gets by client credentials. One per host (its key and token caches are its own).
 */
export function createTeamsProvider(http: ProviderHttp, endpoints: ProviderEndpoints, keyCooldownMs?: number): ChannelProvider<TeamsChannelConfig> {
  const keys = new BotFrameworkKeys(http, endpoints.teams.openidMetadataUrl, keyCooldownMs);
  const tokens = new BotTokens(http, endpoints.teams.tokenUrl, endpoints.teams.tokenScope);

  return {
    name: 'teams',
    configSchema: TeamsChannelConfigSchema,
    maxBodyBytes: 256 * 1024,
    maxTextChars: 28_000,
    ackWaitMs: 10_000,
    replyToSchema: TeamsReplyTo,

    async verify(req, ctx) {
      const appId = await ctx.secrets.get(ctx.config.app_id);
      if (appId === null) return notReady(whereToSet(ctx.address, ctx.config.app_id));
      const auth = singleHeader(req.headers, 'authorization');
      const jwt = auth?.match(/^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/)?.[1];
      if (!jwt) return unauthorized('missing-signature', 'the request needs an Authorization: Bearer <JWT> header');
      let kid: string;
      try {
        const header = decodeProtectedHeader(jwt);
        if (header.alg !== 'RS256')
          return unauthorized('invalid-token', `the token is signed with ${JSON.stringify(String(header.alg)).slice(0, 40)}; Bot Framework tokens are RS256`);
        if (typeof header.kid !== 'string') return unauthorized('invalid-token', 'the token names no key (kid)');
        kid = header.kid;
      } catch {
        return unauthorized('invalid-token', 'the token is not a JWT');
      }
      let key;
      try {
        key = await keys.key(kid);
      } catch (e) {
        return {
          ok: false,
          refusal: { status: 503, code: 'keys-unavailable', message: `Bot Framework's signing keys cannot be fetched: ${(e as Error).message}` },
        };
      }
      if (!key) return unauthorized('invalid-token', 'the token is signed with a key Bot Framework does not publish');
      try {
        const { payload } = await jwtVerify(jwt, key.key, {
          algorithms: ['RS256'],
          issuer: endpoints.teams.issuer,
          audience: appId,
          clockTolerance: CLOCK_SKEW_S,
          requiredClaims: ['exp'],
        });
        return { ok: true, proof: { serviceUrl: payload.serviceUrl, endorsements: key.endorsements } };
      } catch (e) {
        if (e instanceof joseErrors.JWTExpired) return unauthorized('token-expired', 'the token has expired (more than 5 minutes ago)');
        if (e instanceof joseErrors.JWTClaimValidationFailed) return unauthorized('invalid-token', `the token's "${e.claim}" claim is not valid for this bot`);
        if (e instanceof joseErrors.JWSSignatureVerificationFailed) return unauthorized('invalid-signature', 'the token signature does not verify');
        return unauthorized('invalid-token', 'the token does not verify');
      }
    },

    normalise(body, proof): WebhookEvent {
      const a = Activity.safeParse(body);
      if (!a.success) return { kind: 'refused', refusal: { status: 400, code: 'invalid-event', message: 'the body is not a Bot Framework activity' } };
      const act = a.data;
      // The rest of the proof needs the body: the token was issued for this activity's serviceUrl and channel.
      if (typeof proof.serviceUrl !== 'string' || proof.serviceUrl !== act.serviceUrl) {
        return {
          kind: 'refused',
          refusal: { status: 401, code: 'invalid-token', message: "the token's serviceUrl claim does not match the activity's serviceUrl" },
        };
      }
      if (!urlAllowed(act.serviceUrl, endpoints.teams.serviceUrls)) {
        return {
          kind: 'refused',
          refusal: {
            status: 403,
            code: 'service-url-not-allowed',
            message: "the activity's serviceUrl is not one the operator allows (providers.teams.service_urls)",
          },
        };
      }
      const endorsed = proof.endorsements as readonly string[] | undefined;
      if (endorsed && !endorsed.includes(act.channelId)) {
        return {
          kind: 'refused',
          refusal: { status: 403, code: 'channel-not-endorsed', message: `the signing key is not endorsed for channel ${JSON.stringify(act.channelId)}` },
        };
      }
      if (act.type !== 'message') return { kind: 'ignored', reason: `activity type "${act.type}"` };
      if (!act.id || !act.from || !act.recipient || !act.conversation) {
        return { kind: 'refused', refusal: { status: 400, code: 'invalid-event', message: 'the message activity lacks id, from, recipient or conversation' } };
      }
      return {
        kind: 'message',
        message: {
          eventId: `${act.conversation.id}|${act.id}`,
          messageId: act.id,
          userId: act.from.id,
          userName: act.from.name,
          // A mention of the bot is markup around its name, not part of what the user said.
          text: (act.text ?? '').replace(/<at>[^<]{0,256}<\/at>/g, '').trim(),
          attachments: boundedAttachments(
            (act.attachments ?? [])
              .filter((f) => typeof f.contentUrl === 'string')
              .map((f) => ({ kind: attachmentKind(f.contentType), ref: f.contentUrl!, name: f.name, mime: f.contentType })),
          ),
          replyTo: {
            service_url: act.serviceUrl,
            conversation_id: act.conversation.id,
            activity_id: act.id,
            bot_id: act.recipient.id,
            ...(act.recipient.name ? { bot_name: act.recipient.name } : {}),
            user_id: act.from.id,
            ...(act.from.name ? { user_name: act.from.name } : {}),
          },
        },
      };
    },

    async deliver(out, ctx) {
      const to = TeamsReplyTo.safeParse(out.replyTo);
      if (!to.success) return permanent('bad-reply-target', 'the reply names no valid Bot Framework conversation');
      const r = to.data;
      // Checked again here: a reply target is only as trustworthy as whoever published the ingress.
      if (!urlAllowed(r.service_url, ctx.endpoints.teams.serviceUrls))
        return permanent('service-url-not-allowed', "the reply's serviceUrl is not one the operator allows (providers.teams.service_urls)");
      const appId = await ctx.secrets.get(ctx.config.app_id);
      const password = await ctx.secrets.get(ctx.config.app_password);
      if (appId === null) return permanent('credentials-missing', whereToSet(ctx.address, ctx.config.app_id));
      if (password === null) return permanent('credentials-missing', whereToSet(ctx.address, ctx.config.app_password));
      const token = await tokens.token(appId, password, out.timeoutMs);
      if (typeof token !== 'string') return token;
      const answer = await callProvider(
        ctx.http,
        {
          method: 'POST',
          url: endpointUrl(r.service_url, `v3/conversations/${encodeURIComponent(r.conversation_id)}/activities/${encodeURIComponent(r.activity_id)}`),
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify({
            type: 'message',
            text: out.text,
            from: { id: r.bot_id, ...(r.bot_name ? { name: r.bot_name } : {}) },
            recipient: { id: r.user_id, ...(r.user_name ? { name: r.user_name } : {}) },
            conversation: { id: r.conversation_id },
            replyToId: r.activity_id,
          }),
          timeoutMs: out.timeoutMs,
          maxResponseBytes: 256 * 1024,
        },
        'Bot Framework',
      );
      if (isResult(answer)) return answer;
      if (answer.status === 401 || answer.status === 403) {
        // The token may have been revoked early: the next attempt gets a new one.
        tokens.forget(appId, password);
        return transient('token-refused', `Bot Framework answered ${answer.status} to the bot's token`, answer.status);
      }
      return statusFailure(answer, 'Bot Framework') ?? DELIVERED;
    },
  };
}
