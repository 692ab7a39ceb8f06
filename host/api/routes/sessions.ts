import type { FastifyInstance } from 'fastify';
import type { GreenticHost } from '../../host.js';
import { sessionView } from '../../data/export-format.js';
import { sessionKey, type SessionKey } from '../../stores/keys.js';
import { requireEnv, requireScope } from '../auth.js';
import { authErrors, envQuery, errorBody, idString, scopeHeaders, transcriptEntry } from '../schemas.js';
import { notFound, principalOf } from './principal.js';

const sessionBody = {
  type: 'object',
  properties: {
    session: idString,
    env: idString,
    team: idString,
    channel: idString,
    user: idString,
    turns: { type: 'integer' },
    created_at: { type: 'integer' },
    updated_at: { type: 'integer' },
    waiting_at: { type: ['string', 'null'] },
    state: { type: 'object', additionalProperties: { type: 'string' } },
    transcript: { type: 'array', items: transcriptEntry },
  },
} as const;

/** Sessions of the caller's own tenant, team and environment: list (paged), read, delete. */
export function registerSessionRoutes(app: FastifyInstance, host: GreenticHost, onDeleted: (key: SessionKey) => void = () => undefined): void {
  app.get<{ Querystring: { env: string; limit?: number; after?: string } }>(
    '/api/v1/sessions',
    {
      schema: {
        summary: "List the caller's sessions",
        description: 'Session ids of the tenant, team (X-Team-ID) and environment, sorted; page with `after` = the last id of the previous page.',
        tags: ['sessions'],
        headers: scopeHeaders,
        querystring: {
          type: 'object',
          required: ['env'],
          additionalProperties: false,
          properties: { env: idString, limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, after: idString },
        },
        response: { 200: { type: 'object', properties: { sessions: { type: 'array', items: idString }, next: { type: ['string', 'null'] } } }, ...authErrors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      requireScope(p, 'read');
      requireEnv(p, req.query.env);
      const limit = req.query.limit ?? 50;
      const ids = await host.sessions.list({ tenant: p.tenant, env: req.query.env, team: p.team }, { after: req.query.after, limit: limit + 1 });
      return { sessions: ids.slice(0, limit), next: ids.length > limit ? ids[limit - 1]! : null };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { env: string } }>(
    '/api/v1/sessions/:id',
    {
      schema: {
        summary: 'Read one session',
        tags: ['sessions'],
        headers: scopeHeaders,
        params: { type: 'object', required: ['id'], properties: { id: idString } },
        querystring: envQuery,
        response: { 200: sessionBody, 404: { description: 'no such session for this tenant, team and environment', ...errorBody }, ...authErrors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireScope(p, 'read');
      requireEnv(p, req.query.env);
      const stored = await host.sessions.get(sessionKey({ tenant: p.tenant, env: req.query.env, team: p.team }, req.params.id, 'URL path'));
      if (!stored) return notFound(reply, `no session "${req.params.id}" in ${p.tenant}/${req.query.env}/${p.team}`);
      return sessionView(stored.record);
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { env: string } }>(
    '/api/v1/sessions/:id',
    {
      schema: {
        summary: 'Delete one session (its state and transcript)',
        tags: ['sessions'],
        headers: scopeHeaders,
        params: { type: 'object', required: ['id'], properties: { id: idString } },
        querystring: envQuery,
        response: { 204: { description: 'deleted', type: 'null' }, 404: { description: 'no such session', ...errorBody }, ...authErrors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireScope(p, 'write');
      requireEnv(p, req.query.env);
      const key = sessionKey({ tenant: p.tenant, env: req.query.env, team: p.team }, req.params.id, 'URL path');
      const existed = await host.sessions.delete(key);
      if (existed) onDeleted(key);
      if (!existed) return notFound(reply, `no session "${req.params.id}" in ${p.tenant}/${req.query.env}/${p.team}`);
      req.log.info({ event: 'session-deleted', session_id: req.params.id }, 'session deleted through the API');
      return reply.code(204).send();
    },
  );
}
