import Fastify, { type FastifyInstance } from 'fastify';
import type { GreenticHost } from '../host.js';
import { registerWebchat, sendError } from '../messaging/providers/webchat.js';

export interface HttpServerOptions {
  readonly replyTimeoutMs?: number;
}

/** The host's HTTP server: health and the webchat endpoints. Errors are JSON, never stack traces. */
export function createHttpServer(host: GreenticHost, opts: HttpServerOptions = {}): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, routerOptions: { maxParamLength: 200 } });
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) host.logger.error({ event: 'http-error', err: err.message }, 'HTTP handler failed');
    return sendError(
      reply,
      status,
      status === 413 ? 'body-too-large' : status >= 500 ? 'internal' : (err.code ?? 'bad-request').toLowerCase(),
      status >= 500 ? 'internal error' : err.message,
    );
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not-found', `no route ${req.method} ${req.url.slice(0, 200)}`));
  app.get('/healthz', async () => ({ status: 'ok' }));
  registerWebchat(app, host, { replyTimeoutMs: opts.replyTimeoutMs });
  return app;
}
