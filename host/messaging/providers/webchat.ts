import type { FastifyInstance, FastifyReply } from 'fastify';
import type { GreenticHost } from '../../host.js';
import { checkId, InvalidIdError } from '../../tenancy/ids.js';
import { findChannel } from '../../tenancy/model.js';
import { converse, ReplyTimeoutError } from '../conversation.js';
import { MAX_TEXT_BYTES } from '../envelope.js';
import type { ChannelAddress } from '../subjects.js';
import { readCookie, WEBCHAT_COOKIE, WebchatCookies, webchatPath } from './webchat-cookie.js';
import { WEBCHAT_PAGE_CSP, webchatPage } from './webchat-page.js';
import { sessionKey } from '../../stores/keys.js';

interface WebchatParams {
  tenant: string;
  env: string;
  team: string;
  channel: string;
}

/** Send a JSON error body: `{ error: { code, message } }`. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

/**
 * The webchat provider's HTTP side. A webchat is public, so there is no token: the scope comes
 * only from the validated path, which must name a configured webchat channel, and the session
 * from a cookie that is valid on that one channel only.
 */
export function registerWebchat(app: FastifyInstance, host: GreenticHost, opts: { replyTimeoutMs?: number } = {}): void {
  const cookies = new WebchatCookies(host.subkey('webchat cookies v1'));

  /** The channel a webchat URL names, or a reply already sent explaining why not. */
  const channelOf = (params: WebchatParams, reply: FastifyReply): { address: ChannelAddress; title: string } | null => {
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
    const found = findChannel(host.workspace, address.tenant, address.env, address.team, address.channel);
    if (!found.ok || found.channel.provider !== 'webchat' || !host.serves(address.tenant)) {
      sendError(reply, 404, 'unknown-channel', `no webchat channel at ${webchatPath(address)}`);
      return null;
    }
    return { address, title: found.channel.title ?? `${found.tenant.name} ${found.team.name}` };
  };

  app.get<{ Params: WebchatParams }>('/webchat/:tenant/:env/:team/:channel', { schema: { hide: true } }, async (req, reply) => {
    const ch = channelOf(req.params, reply);
    if (!ch) return reply;
    return reply
      .header('content-security-policy', WEBCHAT_PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(webchatPage(ch.title, 'Chat with us'));
  });

  app.get<{ Params: WebchatParams }>('/webchat/:tenant/:env/:team/:channel/history', { schema: { hide: true } }, async (req, reply) => {
    const ch = channelOf(req.params, reply);
    if (!ch) return reply;
    const presented = readCookie(req.headers.cookie, WEBCHAT_COOKIE);
    if (presented === undefined) return { session: null, transcript: [] };
    const session = cookies.verify(ch.address, presented);
    if (!session) return sendError(reply, 403, 'foreign-session', 'the session cookie was not issued for this channel');
    const stored = await host.sessions.get(sessionKey({ tenant: ch.address.tenant, env: ch.address.env, team: ch.address.team }, session, 'session cookie'));
    return { session, transcript: stored?.record.transcript ?? [] };
  });

  app.post<{ Params: WebchatParams; Body: unknown }>(
    '/webchat/:tenant/:env/:team/:channel/messages',
    { bodyLimit: MAX_TEXT_BYTES + 1024, schema: { hide: true } },
    async (req, reply) => {
      const ch = channelOf(req.params, reply);
      if (!ch) return reply;
      const address = ch.address;
      const body = req.body as { text?: unknown } | undefined;
      if (typeof body !== 'object' || body === null || typeof body.text !== 'string' || Object.keys(body).some((k) => k !== 'text')) {
        return sendError(reply, 400, 'invalid-body', 'the body must be JSON {"text": "..."}');
      }
      const presented = readCookie(req.headers.cookie, WEBCHAT_COOKIE);
      let session: string;
      let fresh = false;
      if (presented !== undefined) {
        const valid = cookies.verify(address, presented);
        if (!valid) return sendError(reply, 403, 'foreign-session', 'the session cookie was not issued for this channel');
        session = valid;
      } else {
        session = cookies.newSession();
        fresh = true;
      }
      let answer;
      try {
        answer = await converse(host.bus, address, { user: session, session, text: body.text }, opts.replyTimeoutMs ?? 30_000);
      } catch (e) {
        if (e instanceof ReplyTimeoutError) return sendError(reply, 504, 'timeout', e.message);
        throw e;
      }
      if (fresh) {
        reply.header(
          'set-cookie',
          `${WEBCHAT_COOKIE}=${cookies.mint(address, session)}; Path=${webchatPath(address)}; HttpOnly; SameSite=Strict; Max-Age=2592000`,
        );
      }
      if (!answer.ok) {
        return reply.code(answer.retryable ? 503 : 502).send({ error: { code: answer.code, message: answer.message, retryable: answer.retryable } });
      }
      return reply.send({ session: answer.session, replies: answer.replies });
    },
  );
}
