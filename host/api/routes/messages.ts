import type { FastifyInstance } from 'fastify';
import type { GreenticHost } from '../../host.js';
import { converse, ReplyTimeoutError } from '../../messaging/conversation.js';
import { MAX_TEXT_BYTES } from '../../messaging/envelope.js';
import { ApiAuthError, requireEnv, requireScope } from '../auth.js';
import { authErrors, errorBody, idString, scopeHeaders } from '../schemas.js';
import { notFound, principalOf } from './principal.js';

interface MessageBody {
  env: string;
  channel: string;
  user: string;
  text: string;
  session?: string;
}

/** POST /api/v1/messages: inject a message into one of the caller's own channels and return the replies. */
export function registerMessageRoutes(app: FastifyInstance, host: GreenticHost, replyTimeoutMs: number): void {
  app.post<{ Body: MessageBody }>(
    '/api/v1/messages',
    {
      bodyLimit: MAX_TEXT_BYTES + 4096,
      schema: {
        summary: "Send a message to one of the caller's channels and get the flow's replies",
        description: 'The channel must belong to the team named by X-Team-ID. Without `session`, the user continues their default session on the channel.',
        tags: ['messages'],
        headers: scopeHeaders,
        body: {
          type: 'object',
          required: ['env', 'channel', 'user', 'text'],
          additionalProperties: false,
          properties: { env: idString, channel: idString, user: idString, text: { type: 'string', maxLength: MAX_TEXT_BYTES }, session: idString },
        },
        response: {
          200: { type: 'object', properties: { session: idString, replies: { type: 'array', items: { type: 'string' } } } },
          404: { description: "no such channel in the caller's team and environment", ...errorBody },
          502: { description: 'the flow failed; the session is unchanged', ...errorBody },
          503: { description: 'the flow failed but may succeed if retried', ...errorBody },
          504: { description: 'no answer in time', ...errorBody },
          ...authErrors,
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireScope(p, 'write');
      const { env, channel, user, text, session } = req.body;
      requireEnv(p, env);
      const team = host.workspace.tenants.get(p.tenant)?.teams.get(p.team);
      if (!team || !team.envs.has(env) || !team.channels.has(channel))
        return notFound(reply, `team ${p.tenant}/${p.team} has no channel "${channel}" in ${env}`);
      if (!host.serves(p.tenant)) throw new ApiAuthError(403, 'not-served', `this instance does not serve tenant "${p.tenant}"`);
      // Tracing on: this request is a span, and the turn (on whichever instance takes the message) continues its trace.
      const span = host.tracing.enabled
        ? host.tracing.startSpan('greentic.api POST /api/v1/messages', {
            'greentic.tenant': p.tenant,
            'greentic.env': env,
            'greentic.team': p.team,
            'greentic.channel': channel,
          })
        : undefined;
      try {
        const answer = await converse(
          host.bus,
          { tenant: p.tenant, env, team: p.team, channel },
          { user, text, ...(session ? { session } : {}) },
          replyTimeoutMs,
          { traceparent: span?.traceparent },
        );
        if (!answer.ok)
          return reply.code(answer.retryable ? 503 : 502).send({ error: { code: answer.code, message: answer.message, retryable: answer.retryable } });
        return { session: answer.session, replies: answer.replies };
      } catch (e) {
        if (e instanceof ReplyTimeoutError) return reply.code(504).send({ error: { code: 'timeout', message: e.message, retryable: true } });
        throw e;
      } finally {
        span?.end();
      }
    },
  );
}
