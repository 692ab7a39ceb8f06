import type {} from '@fastify/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiAuthError, type ApiPrincipal } from '../auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API's auth hook on every /api/v1 route that needs a token. */
    principal?: ApiPrincipal;
  }
}

/** The authenticated caller; a route reached without one is a host bug, refused as 401. */
export function principalOf(req: FastifyRequest): ApiPrincipal {
  if (!req.principal) throw new ApiAuthError(401, 'missing-token', 'an Authorization: Bearer <token> header is required');
  return req.principal;
}

/** 404 with a JSON error body. */
export function notFound(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(404).send({ error: { code: 'not-found', message } });
}
