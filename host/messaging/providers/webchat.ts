import { encode } from 'cbor-x';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from '../../api/error-reply.js';
import { WEBCHAT_DOCS } from '../../api/openapi.js';
import type { Logger } from '../../observability/logger.js';
import type { SessionStore } from '../../stores/session-store.js';
import { sessionKey } from '../../stores/keys.js';
import { checkId, InvalidIdError } from '../../tenancy/ids.js';
import type { WebchatLimits } from '../../tenancy/model.js';
import type { MessageBus } from '../bus.js';
import { converse, ReplyTimeoutError } from '../conversation.js';
import { MAX_TEXT_BYTES } from '../envelope.js';
import type { ChannelAddress } from '../subjects.js';
import { readCookie, WEBCHAT_COOKIE, WebchatCookies, webchatPath } from './webchat-cookie.js';
import type { WebchatGuard, WebchatRefusal } from './webchat-limits.js';
import { webchatMessage } from './webchat-message.js';
import { WEBCHAT_PAGE_CSP, webchatPage } from './webchat-page.js';

/** What a visitor reads when a turn fails: never the operator's reason, which goes to the log. */
export const END_USER_TEXT = {
  retryable: 'Sorry, something went wrong on our side. Please try again in a moment.',
  failed: 'Sorry, this chat cannot answer right now. Please try again later.',
  timeout: 'Sorry, no answer came in time. Please try again.',
} as const;

interface WebchatParams {
  tenant: string;
  env: string;
  team: string;
  channel: string;
}

/** A webchat channel this instance serves, as the host describes it. */
export interface WebchatChannel {
  readonly title: string;
  readonly limits: WebchatLimits;
}

/**
 * What the webchat provider needs, wired by the host: the bus it talks to the flows through,
 * the session store (for the page's history), a key for its cookies, and which channels exist.
 * The provider knows no flows, tenants' configs or hosts.
 */
export interface WebchatBackend {
  readonly bus: MessageBus;
  readonly sessions: SessionStore;
  readonly cookieKey: Buffer;
  /** The webchat channel at `address` if this instance serves one there, else null. */
  channel(address: ChannelAddress): WebchatChannel | null;
  readonly guard: WebchatGuard;
  readonly replyTimeoutMs?: number | undefined;
  /** Where what went wrong goes (a visitor only reads an apology). */
  readonly logger: Logger;
}

/**
 * The webchat provider's HTTP side. A webchat is public, so there is no token: the scope comes
 * only from the validated path, which must name a configured webchat channel, and the session
 * from a cookie that is valid on that one channel only. Traffic is bounded per channel, per
 * client address, and in live sessions and stored bytes per tenant environment (429 past them).
 */
export function registerWebchat(app: FastifyInstance, backend: WebchatBackend): void {
  const cookies = new WebchatCookies(backend.cookieKey);

  /** The channel a webchat URL names, or a reply already sent explaining why not. */
  const channelOf = (params: WebchatParams, reply: FastifyReply): { address: ChannelAddress; channel: WebchatChannel } | null => {
    let address: ChannelAddress;
    try {
      address = {
        tenant: checkId('tenant', params.tenant, 'URL path'),
        env: checkId('env', params.env, 'URL path'),
        team: checkId('team', params.team, 'URL path'),
        channel: checkId('channel', params.channel, 'URL path'),
      };
    } catch (e) {
      if (e instanceof InvalidIdError) {
        sendError(reply, 400, 'invalid-id', e.message);
        return null;
      }
      throw e;
    }
    const channel = backend.channel(address);
    if (!channel) {
      sendError(reply, 404, 'unknown-channel', `no webchat channel at ${webchatPath(address)}`);
      return null;
    }
    return { address, channel };
  };

  /**
   * The session a request's cookie names on this channel, or null: no cookie, or one this
   * channel did not issue (another channel's, or one signed before a data reset or key change).
   * Such a cookie is never followed: the browser gets a fresh session and a new cookie, so a
   * returning visitor is never locked out and a foreign cookie never reaches its session.
   */
  const sessionOf = (address: ChannelAddress, req: FastifyRequest): string | null => {
    const presented = readCookie(req.headers.cookie, WEBCHAT_COOKIE);
    if (presented === undefined) return null;
    const session = cookies.verify(address, presented);
    if (session === null)
      backend.logger.info({ event: 'webchat-cookie-replaced', ...logFields(address) }, 'a webchat cookie this channel did not issue: a fresh session');
    return session;
  };

  const refuse = (reply: FastifyReply, r: WebchatRefusal): FastifyReply =>
    reply
      .header('retry-after', String(r.retryAfterSeconds))
      .code(429)
      .type('application/json')
      .send({ error: { code: r.code, message: r.message, retryable: true } });

  app.get<{ Params: WebchatParams }>(
    '/webchat/:tenant/:env/:team/:channel',
    { config: { swaggerTransform: ({ url }) => ({ schema: WEBCHAT_DOCS.page, url }) } },
    async (req, reply) => {
      const ch = channelOf(req.params, reply);
      if (!ch) return reply;
      return reply
        .header('content-security-policy', WEBCHAT_PAGE_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .type('text/html; charset=utf-8')
        .send(webchatPage(ch.channel.title, 'Chat with us'));
    },
  );

  app.get<{ Params: WebchatParams }>(
    '/webchat/:tenant/:env/:team/:channel/history',
    { config: { swaggerTransform: ({ url }) => ({ schema: WEBCHAT_DOCS.history, url }) } },
    async (req, reply) => {
      const ch = channelOf(req.params, reply);
      if (!ch) return reply;
      const session = sessionOf(ch.address, req);
      if (session === null) return { session: null, transcript: [], ended: false };
      const refusal = backend.guard.admit(ch.address, req.ip, session, false, ch.channel.limits);
      if (refusal) return refuse(reply, refusal);
      const stored = await backend.sessions.get(sessionKey(ch.address, session, 'session cookie'));
      const transcript = (stored?.record.transcript ?? []).map((e) =>
        e.from === 'bot' ? { from: e.from, ...webchatMessage(e.text) } : { from: e.from, text: e.text },
      );
      // A session whose flow ended has no cursor: the page shows the end-of-conversation marker.
      return { session, transcript, ended: transcript.length > 0 && stored?.record.cursor === null };
    },
  );

  app.post<{ Params: WebchatParams; Body: unknown }>(
    '/webchat/:tenant/:env/:team/:channel/messages',
    // The handler checks the body itself (its own error codes); the schema is for the OpenAPI document.
    { bodyLimit: MAX_TEXT_BYTES + 1024, config: { swaggerTransform: ({ url }) => ({ schema: WEBCHAT_DOCS.messages, url }) } },
    async (req, reply) => {
      const ch = channelOf(req.params, reply);
      if (!ch) return reply;
      const address = ch.address;
      const body = req.body as { text?: unknown } | undefined;
      if (typeof body !== 'object' || body === null || typeof body.text !== 'string' || Object.keys(body).some((k) => k !== 'text')) {
        return sendError(reply, 400, 'invalid-body', 'the body must be JSON {"text": "..."}');
      }
      const presented = sessionOf(address, req);
      const fresh = presented === null;
      const session = presented ?? cookies.newSession();
      const refusal = backend.guard.admit(address, req.ip, session, fresh, ch.channel.limits);
      if (refusal) return refuse(reply, refusal);
      let answer;
      try {
        answer = await converse(backend.bus, address, { user: session, session, text: body.text }, backend.replyTimeoutMs ?? 30_000);
      } catch (e) {
        if (e instanceof ReplyTimeoutError) {
          backend.logger.warn({ event: 'webchat-timeout', ...logFields(address), reason: e.message }, 'a webchat message got no answer in time');
          return sendError(reply, 504, 'timeout', END_USER_TEXT.timeout);
        }
        throw e;
      }
      const stored = await backend.sessions.get(sessionKey(address, session, 'session cookie')).catch(() => null);
      if (stored) backend.guard.stored(address, session, encode(stored.record).byteLength);
      if (fresh) {
        reply.header(
          'set-cookie',
          `${WEBCHAT_COOKIE}=${cookies.mint(address, session)}; Path=${webchatPath(address)}; HttpOnly; SameSite=Strict; Max-Age=2592000`,
        );
      }
      if (!answer.ok) {
        // What went wrong is for the operator (the log, the admin API), never for the visitor.
        backend.logger.warn({ event: 'webchat-turn-failed', ...logFields(address), code: answer.code, reason: answer.message }, 'a webchat turn failed');
        const message = answer.retryable ? END_USER_TEXT.retryable : END_USER_TEXT.failed;
        return reply.code(answer.retryable ? 503 : 502).send({ error: { code: answer.code, message, retryable: answer.retryable } });
      }
      return reply.send({
        session: answer.session,
        replies: answer.replies,
        messages: answer.replies.map(webchatMessage),
        ended: stored?.record.cursor === null,
      });
    },
  );
}

/** The scope fields of a webchat log line, named as every tenant log line names them (the per-tenant log cap reads tenant_id). */
function logFields(a: ChannelAddress): { tenant_id: string; env_id: string; team_id: string; channel: string } {
  return { tenant_id: a.tenant, env_id: a.env, team_id: a.team, channel: a.channel };
}
