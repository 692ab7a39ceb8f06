import type { FastifyInstance } from 'fastify';
import { AuditCursorError } from '../../audit/audit-store.js';
import type { GreenticHost } from '../../host.js';
import { requireScope } from '../auth.js';
import { sendError } from '../error-reply.js';
import { authErrors, errorBody, idString, scopeHeaders } from '../schemas.js';
import { principalOf } from './principal.js';

const record = {
  type: 'object',
  required: ['time', 'tenant', 'actor', 'action', 'target', 'outcome'],
  properties: {
    time: { type: 'string', format: 'date-time' },
    tenant: idString,
    env: idString,
    team: idString,
    actor: { type: 'string', description: '`api:{token subject}` or a subject, `cli`, `operator`, `component:{name}`, `host`' },
    action: {
      type: 'string',
      description: 'secret.set, secret.delete, secret.read, token.issue, admin.action, tenant.reload, data.export, data.erase, access.denied, audit.dropped',
    },
    target: { type: 'string' },
    outcome: { type: 'string', enum: ['ok', 'failed', 'denied', 'not-found', 'dropped'] },
    detail: { type: 'string' },
    counts: { type: 'object', additionalProperties: { type: 'number' } },
  },
} as const;

/** The most records one page holds. */
export const MAX_AUDIT_PAGE = 1000;

/**
 * GET /api/v1/audit: a page of the caller's own tenant's audit log, oldest first (records of
 * environments the token does not cover are left out). `admin` scope only.
 */
export function registerAuditRoutes(app: FastifyInstance, host: GreenticHost): void {
  app.get<{ Querystring: { since?: string; limit: number; cursor?: string } }>(
    '/api/v1/audit',
    {
      schema: {
        summary: "The tenant's audit log: secret reads and changes, tokens, admin actions, reloads, exports, erasures, denials",
        description: `Oldest first; \`next\` (when not null) reads on. Needs the admin scope. Records are described in the README, "Audit log".`,
        tags: ['audit'],
        headers: scopeHeaders,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', format: 'date-time', description: 'only records at or after this time (ISO 8601)' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_AUDIT_PAGE, default: 100 },
            cursor: { type: 'string', maxLength: 40, description: 'the `next` of the page before' },
          },
        },
        response: {
          200: { type: 'object', properties: { tenant: idString, records: { type: 'array', items: record }, next: { type: ['string', 'null'] } } },
          ...authErrors,
          400: { description: 'a header or parameter is missing or malformed, or a cursor this API did not give', ...errorBody },
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      requireScope(p, 'admin');
      const since = req.query.since === undefined ? undefined : Date.parse(req.query.since);
      if (since !== undefined && Number.isNaN(since))
        return sendError(reply, 400, 'invalid-request', `since ${JSON.stringify(String(req.query.since).slice(0, 40))} is not an ISO 8601 time`);
      try {
        const page = await host.audit.read(p.tenant, { since, cursor: req.query.cursor, limit: req.query.limit });
        const records = page.records.filter((r) => r.env === undefined || p.envs.includes(r.env));
        return { tenant: p.tenant, records, next: page.next };
      } catch (e) {
        if (e instanceof AuditCursorError) return sendError(reply, 400, 'invalid-request', e.message);
        throw e;
      }
    },
  );
}
