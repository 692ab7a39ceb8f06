import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { GreenticHost } from '../host.js';
import { registerWebchat, sendError } from '../messaging/providers/webchat.js';
import { InvalidIdError } from '../tenancy/ids.js';
import { ApiAuthError, authenticate, TenantKeyring } from './auth.js';
import { registerFlowRoutes } from './routes/flows.js';
import { registerMessageRoutes } from './routes/messages.js';
import { registerSessionRoutes } from './routes/sessions.js';
import { registerUsageRoutes } from './routes/usage.js';

export interface HttpServerOptions {
  readonly replyTimeoutMs?: number;
  /** When set, GET /metrics needs `Authorization: Bearer <this>`. */
  readonly metricsToken?: string | undefined;
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
  });
  const keyring = new TenantKeyring(host.workspace.tenants, host.secrets);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'greentic-host API',
        version: '1',
        description: 'Every /api/v1 route except this document needs a Bearer JWT of the tenant named by X-Tenant-ID.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });

  app.setErrorHandler((err: FastifyError | ApiAuthError | InvalidIdError, req, reply) => {
    if (err instanceof ApiAuthError) return sendError(reply, err.status, err.code, err.message);
    if (err instanceof InvalidIdError) return sendError(reply, 400, 'invalid-id', err.message);
    const e = err as FastifyError;
    if (e.validation) return sendError(reply, 400, 'invalid-request', e.message);
    const status = e.statusCode ?? 500;
    if (status >= 500) {
      host.logger.error({ event: 'http-error', method: req.method, route: req.routeOptions.url, err: e.message }, 'HTTP handler failed');
      return sendError(reply, 500, 'internal', 'internal error');
    }
    const code =
      status === 413
        ? 'body-too-large'
        : status === 415
          ? 'unsupported-media-type'
          : e.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
            ? 'invalid-json'
            : 'bad-request';
    return sendError(reply, status, code, e.message);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not-found', `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}`));

  // Authenticate every API request before anything else runs; log it with its tenant fields.
  app.addHook('onRequest', async (req) => {
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

  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['health'], security: [] } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { summary: 'The host serves its tenants', tags: ['health'], security: [] } }, async (_req, reply) =>
    host.ready ? { status: 'ready', tenants: [...host.runtimes.keys()] } : reply.code(503).send({ status: 'not-ready' }),
  );
  app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    if (opts.metricsToken && req.headers.authorization !== `Bearer ${opts.metricsToken}`)
      return sendError(reply, 401, 'missing-token', 'the metrics endpoint needs its Bearer token');
    return reply.type(host.metrics.registry.contentType).send(await host.metrics.registry.metrics());
  });

  registerSessionRoutes(app, host);
  registerMessageRoutes(app, host, opts.replyTimeoutMs ?? 30_000);
  registerFlowRoutes(app, host);
  registerUsageRoutes(app, host);
  registerWebchat(app, host, { replyTimeoutMs: opts.replyTimeoutMs });

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.ready();
  return app;
}
