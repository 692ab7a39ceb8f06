import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TenantRegistry } from '../../flow/tenant-registry.js';
import type { ReloadReport, TenantReport } from '../../flow/tenant-reports.js';
import type { Logger } from '../../observability/logger.js';
import type { ConfigProblem } from '../../tenancy/config/problems.js';
import { checkId, ID_PATTERN_TEXT } from '../../tenancy/ids.js';
import type { AdminGate } from '../admin-auth.js';
import { sendError } from '../error-reply.js';
import { errorBody, idString } from '../schemas.js';

const problem = {
  type: 'object',
  properties: { file: { type: 'string' }, path: { type: 'string' }, message: { type: 'string' } },
} as const;
const problems = { type: 'array', items: problem } as const;
const nullableString = { type: 'string', nullable: true } as const;
const STATES = ['serving', 'degraded', 'stale', 'failed', 'not-served', 'removed'];
const OUTCOMES = ['loaded', 'added', 'reloaded', 'unchanged', 'kept-last-good', 'failed', 'removed', 'not-found'];

/** One tenant in a response: with every problem (detail) or their counts (the list). */
function tenantSchema(detail: boolean) {
  const listed = detail ? problems : { type: 'integer', description: 'how many; GET .../problems lists them' };
  return {
    type: 'object',
    properties: {
      tenant: idString,
      state: { type: 'string', enum: STATES },
      version: { ...nullableString, description: 'content hash of the served configuration and components' },
      loaded_at: nullableString,
      problems: listed,
      refused: {
        type: 'object',
        nullable: true,
        description: 'the last version refused while an older one kept serving',
        properties: { version: { type: 'string' }, at: { type: 'string' }, problems: listed },
      },
      last_reload: {
        type: 'object',
        nullable: true,
        properties: { at: { type: 'string' }, outcome: { type: 'string', enum: OUTCOMES }, version: nullableString },
      },
      watch: { type: 'string', enum: ['on', 'partial', 'off'] },
    },
  } as const;
}

const reloadSchema = {
  type: 'object',
  properties: {
    tenant: idString,
    outcome: { type: 'string', enum: OUTCOMES },
    version: nullableString,
    previous_version: nullableString,
    problems,
  },
} as const;

const adminErrors = {
  400: { description: 'a malformed tenant id', ...errorBody },
  401: { description: "no operator token, or not the operator's", ...errorBody },
  404: { description: 'no such tenant; or the admin API is off (no GREENTIC_ADMIN_TOKEN), for every route', ...errorBody },
} as const;

const shownProblems = (ps: readonly ConfigProblem[]) => ps.map((p) => ({ file: p.file, path: p.path, message: p.message }));

function tenantJson(r: TenantReport, detail: boolean) {
  const listed = (ps: readonly ConfigProblem[]) => (detail ? shownProblems(ps) : ps.length);
  return {
    tenant: r.tenant,
    state: r.state,
    version: r.version,
    loaded_at: r.loadedAt,
    problems: listed(r.problems),
    refused: r.refused && { version: r.refused.version, at: r.refused.at, problems: listed(r.refused.problems) },
    last_reload: r.lastReload,
    watch: r.watch,
  };
}

function reloadJson(r: ReloadReport) {
  return { tenant: r.tenant, outcome: r.outcome, version: r.version, previous_version: r.previousVersion, problems: shownProblems(r.problems) };
}

/**
 * The operator's API under /admin/v1: every tenant with its state, version and problems, and a
 * reload of one tenant or of the whole bundle. Its own credential (the operator token), never a
 * tenant's; without one configured the routes answer 404 as if they did not exist. Every action
 * is logged and told to the registry's listeners (for audit logs).
 */
export function registerAdminRoutes(app: FastifyInstance, tenants: TenantRegistry, gate: AdminGate | undefined, logger: Logger): void {
  void app.register(
    async (admin) => {
      admin.addHook('onRequest', async (req, reply) => {
        if (!gate) return sendError(reply, 404, 'not-found', 'no such route');
        const verdict = gate.check(req.headers.authorization);
        if (verdict === 'missing') return sendError(reply, 401, 'missing-token', "the admin API needs the operator's Bearer token (GREENTIC_ADMIN_TOKEN)");
        if (verdict === 'wrong') return sendError(reply, 401, 'invalid-token', "the token is not the operator's admin token");
      });
      const told = (req: FastifyRequest, action: string, tenant: string | undefined, outcome: string) => {
        logger.info({ event: 'admin-action', action, tenant_id: tenant, outcome, from: req.ip }, `admin: ${action}${tenant ? ` ${tenant}` : ''}: ${outcome}`);
        tenants.emit({ kind: 'admin', action, tenant, outcome, from: req.ip });
      };
      const tenantParam = (req: FastifyRequest) => checkId('tenant', (req.params as { tenant: string }).tenant, 'the URL');
      const unknown = (reply: FastifyReply, tenant: string) => sendError(reply, 404, 'not-found', `this instance knows no tenant "${tenant}"`);
      const security = [{ admin: [] }];
      // Checked by the handler (checkId), so a malformed id is answered invalid-id, saying why.
      const params = {
        type: 'object',
        required: ['tenant'],
        properties: { tenant: { type: 'string', description: `a tenant id (${ID_PATTERN_TEXT})` } },
      } as const;

      admin.get(
        '/tenants',
        {
          schema: {
            summary: 'Every tenant: state, version, problem counts',
            tags: ['admin'],
            security,
            response: {
              200: { type: 'object', properties: { workspace: { type: 'string' }, problems, tenants: { type: 'array', items: tenantSchema(false) } } },
              ...adminErrors,
            },
          },
        },
        async (req) => {
          told(req, 'list', undefined, 'ok');
          const bundle = tenants.problems.filter((p) => p.tenant === undefined);
          return { workspace: tenants.workspace.name, problems: shownProblems(bundle), tenants: tenants.reports().map((r) => tenantJson(r, false)) };
        },
      );
      admin.get(
        '/tenants/:tenant',
        { schema: { summary: 'One tenant, with its problems', tags: ['admin'], security, params, response: { 200: tenantSchema(true), ...adminErrors } } },
        async (req, reply) => {
          const id = tenantParam(req);
          const r = tenants.report(id);
          told(req, 'show', id, r ? 'ok' : 'not-found');
          return r ? tenantJson(r, true) : unknown(reply, id);
        },
      );
      admin.get(
        '/tenants/:tenant/problems',
        {
          schema: {
            summary: "A tenant's problems: its served version's, and those of the last version refused",
            tags: ['admin'],
            security,
            params,
            response: {
              200: {
                type: 'object',
                properties: {
                  tenant: idString,
                  state: { type: 'string', enum: STATES },
                  version: nullableString,
                  problems,
                  refused: tenantSchema(true).properties.refused,
                },
              },
              ...adminErrors,
            },
          },
        },
        async (req, reply) => {
          const id = tenantParam(req);
          const r = tenants.report(id);
          told(req, 'problems', id, r ? 'ok' : 'not-found');
          if (!r) return unknown(reply, id);
          const { tenant, state, version, problems: ps, refused } = tenantJson(r, true);
          return { tenant, state, version, problems: ps, refused };
        },
      );
      admin.post(
        '/tenants/:tenant/reload',
        {
          schema: {
            summary: 'Reload one tenant from the bundle: validated first; a broken version is refused and the last good one kept',
            description: 'A tenant new to the bundle is added, one gone from it removed (its data is kept). The outcome says which.',
            tags: ['admin'],
            security,
            params,
            response: { 200: reloadSchema, ...adminErrors },
          },
        },
        async (req, reply) => {
          const id = tenantParam(req);
          const r = await tenants.reload(id, 'admin');
          told(req, 'reload', id, r.outcome);
          return r.outcome === 'not-found' ? unknown(reply, id) : reloadJson(r);
        },
      );
      admin.post(
        '/reload',
        {
          schema: {
            summary: 'Reload the whole bundle: tenants added, removed, and every other one reloaded',
            tags: ['admin'],
            security,
            response: { 200: { type: 'object', properties: { problems, reloads: { type: 'array', items: reloadSchema } } }, ...adminErrors },
          },
        },
        async (req) => {
          const reports = await tenants.reloadAll('admin', true);
          told(req, 'reload-all', undefined, `${reports.length} tenants`);
          return { problems: shownProblems(tenants.problems.filter((p) => p.tenant === undefined)), reloads: reports.map(reloadJson) };
        },
      );
    },
    { prefix: '/admin/v1' },
  );
}
