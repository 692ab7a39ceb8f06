import type { FastifyInstance } from 'fastify';
import type { GreenticHost } from '../../host.js';
import { requireScope } from '../auth.js';
import { authErrors, idString, scopeHeaders } from '../schemas.js';
import { principalOf } from './principal.js';

/** GET /api/v1/flows: the caller's tenant's flows, with the channels of the caller's team that run them. */
export function registerFlowRoutes(app: FastifyInstance, host: GreenticHost): void {
  app.get(
    '/api/v1/flows',
    {
      schema: {
        summary: "The tenant's flows",
        tags: ['flows'],
        headers: scopeHeaders,
        response: {
          200: {
            type: 'object',
            properties: {
              flows: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: idString,
                    version: { type: 'string' },
                    start: idString,
                    nodes: { type: 'array', items: { type: 'object', properties: { id: idString, type: idString } } },
                    channels: { type: 'array', items: idString, description: "channels of the caller's team running this flow" },
                  },
                },
              },
              unavailable: { type: 'object', additionalProperties: { type: 'string' }, description: "channels of the caller's team that cannot run, and why" },
            },
          },
          ...authErrors,
        },
      },
    },
    async (req) => {
      const p = principalOf(req);
      requireScope(p, 'read');
      const runtime = host.runtimes.get(p.tenant);
      const team = runtime?.model.teams.get(p.team);
      const flows = [...(runtime?.flows.values() ?? [])].map((f) => ({
        name: f.name,
        version: f.version,
        start: f.start,
        nodes: [...f.nodes.values()].map((n) => ({ id: n.id, type: n.type })),
        channels: [...(team?.channels.values() ?? [])].filter((c) => runtime?.channelFlows.get(`${p.team}/${c.id}`)?.flow === f.name).map((c) => c.id),
      }));
      const unavailable = Object.fromEntries(
        [...(runtime?.unavailable ?? [])].filter(([k]) => k.startsWith(`${p.team}/`)).map(([k, v]) => [k.slice(p.team.length + 1), v]),
      );
      return { flows, unavailable };
    },
  );
}
