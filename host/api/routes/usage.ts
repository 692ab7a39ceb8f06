import type { FastifyInstance } from 'fastify';
import type { GreenticHost } from '../../host.js';
import { tenantUsage } from '../../observability/tenant-usage.js';
import { requireScope } from '../auth.js';
import { authErrors, idString, scopeHeaders } from '../schemas.js';
import { principalOf } from './principal.js';

const figures = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(
    ['turns', 'turn_errors', 'messages_in', 'messages_out', 'node_calls', 'node_errors', 'guest_call_seconds', 'access_denials', 'sessions_expired'].map(
      (k) => [k, { type: 'number' }],
    ),
  ),
} as const;

/** How long the bytes a tenant stores are reused before they are measured again (a measure walks its session files). */
const BYTES_TTL_MS = 60_000;

/** GET /api/v1/usage: the caller's own tenant's figures (README, "Usage"), nobody else's. */
export function registerUsageRoutes(app: FastifyInstance, host: GreenticHost): void {
  const since = Date.now();
  const bytes = new Map<string, { at: number; value: Promise<number> }>();
  const bytesOf = (tenant: string): Promise<number> => {
    const hit = bytes.get(tenant);
    if (hit && Date.now() - hit.at < BYTES_TTL_MS) return hit.value;
    const value = host.sessions.bytesStored?.(tenant) ?? Promise.resolve(0);
    bytes.set(tenant, { at: Date.now(), value });
    value.catch(() => bytes.delete(tenant));
    return value;
  };
  app.get(
    '/api/v1/usage',
    {
      schema: {
        summary: "The tenant's usage: turns, node calls, guest time, messages, bytes stored",
        description: 'Counted since this host started, per environment and in total; the shape is stable (README, "Usage").',
        tags: ['usage'],
        headers: scopeHeaders,
        response: {
          200: {
            type: 'object',
            properties: {
              tenant: idString,
              since: { type: 'string' },
              totals: figures,
              envs: { type: 'object', additionalProperties: figures },
              bytes_stored: { type: 'integer' },
            },
          },
          ...authErrors,
        },
      },
    },
    async (req) => {
      const p = principalOf(req);
      requireScope(p, 'read');
      const model = host.workspace.tenants.get(p.tenant);
      return tenantUsage(host.metrics.registry, p.tenant, model?.envs.keys() ?? [], since, await bytesOf(p.tenant));
    },
  );
}
