import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { GreenticHost } from '../host.js';
import { registerWebchat, type WebchatChannel } from '../messaging/providers/webchat.js';
import { WebchatGuard } from '../messaging/providers/webchat-limits.js';
import type { ChannelAddress } from '../messaging/subjects.js';
import { StoreUnavailableError } from '../stores/storage-problem.js';
import { InvalidIdError, isValidId } from '../tenancy/ids.js';
import { findChannel } from '../tenancy/model.js';
import { answerClientError, describeFrameworkError, errorBody, sendError } from './error-reply.js';
import { registerHealthRoutes, type ReadinessCheck } from './health.js';
import { ApiAuthError, authenticate, TenantKeyring } from './auth.js';
import { AdminGate } from './admin-auth.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerAuditRoutes } from './routes/audit.js';
import type { OpenAPIV3 } from 'openapi-types';
import { completeOpenApi, openApiFrame } from './openapi.js';
import { registerFlowRoutes } from './routes/flows.js';
import { registerIngressRoutes } from './routes/ingress.js';
import { registerMessageRoutes } from './routes/messages.js';
import { registerSessionRoutes } from './routes/sessions.js';
import { registerUsageRoutes } from './routes/usage.js';
import { registerUserRoutes } from './routes/users.js';

export interface HttpServerOptions {
  readonly replyTimeoutMs?: number;
  /** GET /metrics needs `Authorization: Bearer <this>`; without it, /metrics is not served. */
  readonly metricsToken?: string | undefined;
  /** More things /readyz depends on (store health, ...), besides the host taking messages. */
  readonly readiness?: readonly ReadinessCheck[];
  /** The bounds on webchat traffic; one per server by default. */
  readonly webchatGuard?: WebchatGuard;
  /** The operator token /admin/v1 needs (adminTokenFromEnv); without it the admin API answers 404. */
  readonly adminToken?: string | undefined;
}

/** Routes under /api/v1 that need no token. */
const PUBLIC_API = new Set(['/api/v1/openapi.json']);

/**
 * The host's HTTP server: the REST API (tenant-bound tokens), health, metrics, the OpenAPI
 * document generated from the route schemas, and the webchat channels. Every error is a JSON
 * body `{ error: { code, message } }`, never a stack trace.
 */
export async function createHttpServer(host: GreenticHost, opts: HttpServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 200 },
    // Unknown body fields are an error, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    // The framework's own refusals (a bad URL, a too long one, a malformed request) in the documented shape too.
    frameworkErrors: (err, _req, reply) => {
      const d = describeFrameworkError(err);
      return sendError(reply, d.status, d.code, d.message);
    },
    clientErrorHandler: answerClientError,
  });
  // Node answers an unknown Expect header itself (417, no body) unless someone listens.
  app.server.on('checkExpectation', (_req, res: ServerResponse) => {
    const body = errorBody('expectation-failed', 'the Expect header is not supported');
    res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
  });
  const keyring = new TenantKeyring(host.workspace.tenants, host.secrets);

  await app.register(swagger, {
    openapi: openApiFrame(),
    transformObject: (doc) =>
      ('openapiObject' in doc ? completeOpenApi(doc.openapiObject as Record<string, unknown>) : doc.swaggerObject) as Partial<OpenAPIV3.Document>,
  });

  app.setErrorHandler((err: FastifyError | ApiAuthError | InvalidIdError, req, reply) => {
    if (err instanceof ApiAuthError) {
      const fields = refusalFields(host, req.headers);
      host.logger.warn(
        { event: 'api-refused', ...fields, status: err.status, code: err.code, method: req.method, route: req.routeOptions.url, reason: err.message },
        'API request refused',
      );
      // Into the tenant's audit log only for a tenant this host serves (rate-limited there): made-up tenants have no log to fill.
      if (fields.tenant_id !== UNKNOWN_TENANT && (err.status === 401 || err.status === 403)) {
        host.audit.record({
          tenant: fields.tenant_id,
          team: fields.team_id,
          actor: req.principal ? `api:${req.principal.subject}` : 'api',
          action: 'access.denied',
          target: `route:${req.method} ${req.routeOptions.url ?? '?'}`,
          outcome: 'denied',
          detail: `${err.status} ${err.code}: ${err.message}`,
        });
      }
      return sendError(reply, err.status, err.code, err.message);
    }
    if (err instanceof InvalidIdError) return sendError(reply, 400, 'invalid-id', err.message);
    // A disk that is full or read-only: retryable, and says so (never a 500).
    if (err instanceof StoreUnavailableError) return sendError(reply, 503, err.code, err.message);
    const e = err as FastifyError;
    if (e.validation) return sendError(reply, 400, 'invalid-request', e.message);
    const d = describeFrameworkError(e);
    if (d.status >= 500) host.logger.error({ event: 'http-error', method: req.method, route: req.routeOptions.url, err: e.message }, 'HTTP handler failed');
    return sendError(reply, d.status, d.code, d.message);
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, 404, 'not-found', 'no such route'));

  // Authenticate every API request before anything else runs; log it with its tenant fields.
  app.addHook('onRequest', async (req) => {
    // Unknown routes are 404 for everyone: a caller learns which routes exist, nothing else.
    if (req.is404) return;
    const path = req.url.split('?')[0]!;
    if (path.startsWith('/api/v1/') && !PUBLIC_API.has(path)) req.principal = await authenticate(req.headers, keyring);
  });
  app.addHook('onResponse', async (req, reply) => {
    const p = req.principal;
    if (!p) return;
    const env = (req.query as { env?: unknown } | undefined)?.env ?? (req.body as { env?: unknown } | undefined)?.env;
    host.logger.info(
      {
        event: 'api-request',
        tenant_id: p.tenant,
        env_id: typeof env === 'string' ? env : undefined,
        team_id: p.team,
        subject: p.subject,
        method: req.method,
        route: req.routeOptions.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'API request',
    );
  });

  registerHealthRoutes(app, {
    // Not ready while stopping, or while the session store cannot save (reason: a storage problem code).
    checks: [() => host.readiness(), ...(opts.readiness ?? [])],
    metrics: host.metrics.registry,
    metricsToken: opts.metricsToken,
  });

  const guard = opts.webchatGuard ?? new WebchatGuard();
  registerSessionRoutes(app, host, (key) => guard.forget(key, key.session));
  // Sessions erased or expired free their share of the webchat's stored bytes, as one deleted through the API does.
  const stopForgetting = host.onSessionsRemoved((keys) => {
    for (const key of keys) guard.forget(key, key.session);
  });
  app.addHook('onClose', async () => stopForgetting());
  registerMessageRoutes(app, host, opts.replyTimeoutMs ?? 30_000);
  registerFlowRoutes(app, host);
  registerUsageRoutes(app, host);
  registerUserRoutes(app, host);
  registerAuditRoutes(app, host);
  registerAdminRoutes(app, host.tenants, opts.adminToken === undefined ? undefined : new AdminGate(opts.adminToken), host.logger);
  registerWebchat(app, {
    bus: host.bus,
    sessions: host.sessions,
    cookieKey: host.subkey('webchat cookies v1'),
    channel: (address) => webchatChannel(host, address),
    guard,
    replyTimeoutMs: opts.replyTimeoutMs,
    logger: host.logger,
  });

  registerIngressRoutes(app, {
    bus: host.bus,
    providers: host.channels.providers,
    sessions: host.sessions,
    logger: host.logger,
    metrics: host.channels.metrics,
    turnWaiter: host.channels.egress.turnWaiter,
    channel: (address, provider) => {
      const found = findChannel(host.workspace, address.tenant, address.env, address.team, address.channel);
      return found.ok && found.channel.provider === provider && host.serves(address.tenant) ? found.channel : null;
    },
  });

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.ready();
  return app;
}

/** The webchat channel at `address` that `host` serves, with its environment's webchat limits. */
function webchatChannel(host: GreenticHost, address: ChannelAddress): WebchatChannel | null {
  const found = findChannel(host.workspace, address.tenant, address.env, address.team, address.channel);
  if (!found.ok || found.channel.provider !== 'webchat' || !host.serves(address.tenant)) return null;
  const settings = found.tenant.envs.get(address.env)?.settings ?? found.tenant.settings;
  return { title: found.channel.title ?? `${found.tenant.name} ${found.team.name}`, limits: settings.webchat };
}

/** A tenant id no tenant can have (the id grammar starts with a letter or digit): refusals naming no tenant this host serves share it. */
const UNKNOWN_TENANT = '_unknown';

/**
 * The tenant fields of a refused API request, from its headers, never its token: the tenant
 * when this host serves it (so the per-tenant log cap bounds its refusals), else one shared
 * bucket, so a flood of made-up tenant names cannot grow the log without bound.
 */
function refusalFields(host: GreenticHost, headers: Record<string, string | string[] | undefined>): { tenant_id: string; team_id?: string } {
  const tenant = headers['x-tenant-id'];
  const team = headers['x-team-id'];
  const known = typeof tenant === 'string' && isValidId(tenant) && host.serves(tenant);
  return { tenant_id: known ? tenant : UNKNOWN_TENANT, ...(known && typeof team === 'string' && isValidId(team) ? { team_id: team } : {}) };
}
