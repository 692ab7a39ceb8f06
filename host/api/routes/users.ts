import type { FastifyInstance, FastifyReply } from 'fastify';
import { exportLines, type ExportDocument } from '../../data/export-format.js';
import { UnknownScopeError } from '../../data/tenant-data.js';
import type { GreenticHost } from '../../host.js';
import { requireEnv, requireScope, type ApiPrincipal } from '../auth.js';
import { authErrors, errorBody, idString, scopeHeaders } from '../schemas.js';
import { principalOf } from './principal.js';

const userParams = { type: 'object', required: ['user'], properties: { user: idString } } as const;
const envOnly = { type: 'object', additionalProperties: false, properties: { env: idString } } as const;

/** The environments a request acts on: the one asked for (which the token must cover), else every one the token covers. */
function envsOf(p: ApiPrincipal, env: string | undefined): readonly string[] {
  if (env === undefined) return p.envs;
  requireEnv(p, env);
  return [env];
}

function unknownScope(reply: FastifyReply, e: unknown): FastifyReply {
  if (e instanceof UnknownScopeError) return reply.code(404).send({ error: { code: 'not-found', message: e.message } });
  throw e;
}

/**
 * A user's data within the caller's tenant (every team, in the token's environments), for the
 * rights of access, portability and erasure: export as JSON or NDJSON, erase. `admin` scope only.
 */
export function registerUserRoutes(app: FastifyInstance, host: GreenticHost): void {
  app.get<{ Params: { user: string }; Querystring: { env?: string; format?: 'json' | 'ndjson' } }>(
    '/api/v1/users/:user/export',
    {
      schema: {
        summary: "Export a user's sessions, transcripts, state and dead letters",
        description: `Document format "greentic-host.export.v1" (README, "Export format"); format=ndjson gives one JSON object per line. Needs the admin scope.`,
        tags: ['users'],
        headers: scopeHeaders,
        params: userParams,
        querystring: { ...envOnly, properties: { ...envOnly.properties, format: { type: 'string', enum: ['json', 'ndjson'], default: 'json' } } },
        response: { 200: { type: 'object', additionalProperties: true }, 404: { description: 'no such environment', ...errorBody }, ...authErrors },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireScope(p, 'admin');
      const envs = envsOf(p, req.query.env);
      let doc: ExportDocument | undefined;
      try {
        for (const env of envs) {
          const part = await host.data.export(p.tenant, { kind: 'user', user: req.params.user, env }, p.subject);
          doc = doc ? { ...doc, sessions: [...doc.sessions, ...part.sessions], dead_letters: [...doc.dead_letters, ...part.dead_letters] } : part;
        }
      } catch (e) {
        return unknownScope(reply, e);
      }
      const out: ExportDocument = { ...doc!, env: req.query.env ?? null };
      if (req.query.format === 'ndjson') return reply.type('application/x-ndjson; charset=utf-8').send(`${[...exportLines(out)].join('\n')}\n`);
      return out;
    },
  );

  app.delete<{ Params: { user: string }; Querystring: { env?: string } }>(
    '/api/v1/users/:user',
    {
      schema: {
        summary: "Erase a user's data: sessions (state, transcripts), journal entries, dead letters",
        description: 'Durable once answered: nothing erased comes back after a crash. Needs the admin scope.',
        tags: ['users'],
        headers: scopeHeaders,
        params: userParams,
        querystring: envOnly,
        response: {
          200: {
            type: 'object',
            properties: { user: idString, removed: { type: 'object', properties: { sessions: { type: 'integer' }, dead_letters: { type: 'integer' } } } },
          },
          404: { description: 'no such environment', ...errorBody },
          ...authErrors,
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireScope(p, 'admin');
      const removed = { sessions: 0, dead_letters: 0 };
      try {
        for (const env of envsOf(p, req.query.env)) {
          const n = await host.data.erase(p.tenant, { kind: 'user', user: req.params.user, env }, p.subject);
          removed.sessions += n.sessions ?? 0;
          removed.dead_letters += n.dead_letters ?? 0;
        }
      } catch (e) {
        return unknownScope(reply, e);
      }
      return { user: req.params.user, removed };
    },
  );
}
