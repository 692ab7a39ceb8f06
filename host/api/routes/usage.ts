import type { FastifyInstance } from 'fastify';
import type { GreenticHost } from '../../host.js';
import { requireScope } from '../auth.js';
import { authErrors, idString, scopeHeaders } from '../schemas.js';
import { principalOf } from './principal.js';

/** GET /api/v1/usage: the caller's own tenant's figures from the host's metrics, nobody else's. */
export function registerUsageRoutes(app: FastifyInstance, host: GreenticHost): void {
  app.get(
    '/api/v1/usage',
    {
      schema: {
        summary: "The tenant's usage: messages, node calls and errors, denials, latency, live instances",
        description: "Every metric series labelled with the caller's tenant (all its envs and teams).",
        tags: ['usage'],
        headers: scopeHeaders,
        response: { 200: { type: 'object', properties: { tenant: idString, metrics: { type: 'object', additionalProperties: true } } }, ...authErrors },
      },
    },
    async (req) => {
      const p = principalOf(req);
      requireScope(p, 'read');
      return { tenant: p.tenant, metrics: await host.metrics.tenantUsage(p.tenant) };
    },
  );
}
