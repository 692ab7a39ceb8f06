import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { sendError } from './error-reply.js';

/**
 * One thing readiness depends on (the host taking messages, a store being writable): ready or
 * not, and when not a stable reason code ("stopping", "store-unwritable"). It names no tenant.
 */
export type ReadinessCheck = () => { readonly ready: boolean; readonly reason?: string | undefined };

export interface HealthOptions {
  readonly checks: readonly ReadinessCheck[];
  readonly metrics: Registry;
  /** The bearer token /metrics needs; without one, /metrics is not served at all. */
  readonly metricsToken: string | undefined;
}

/** SHA-256 of a token, so comparing two never leaks their lengths or contents through timing. */
const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * /healthz (the process is up), /readyz (ready or not, with a reason code; never a tenant's
 * name), and /metrics, which names tenants, teams and channels and so is served only to a
 * caller with the operator's token.
 */
export function registerHealthRoutes(app: FastifyInstance, opts: HealthOptions): void {
  const want = opts.metricsToken === undefined ? undefined : digest(`Bearer ${opts.metricsToken}`);
  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['health'], security: [] } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { summary: 'The host serves its tenants (ready or not, and why not)', tags: ['health'], security: [] } },
    async (_req, reply) => {
      for (const check of opts.checks) {
        const r = check();
        if (!r.ready) return reply.code(503).send({ status: 'not-ready', reason: r.reason ?? 'not-ready' });
      }
      return { status: 'ready' };
    },
  );
  app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    if (!want)
      return sendError(reply, 403, 'metrics-disabled', 'metrics are served only with a token: set GREENTIC_METRICS_TOKEN and send it as a Bearer token');
    const got = req.headers.authorization;
    if (typeof got !== 'string' || !timingSafeEqual(digest(got), want))
      return sendError(reply, 401, 'missing-token', 'the metrics endpoint needs its Bearer token');
    return reply.type(opts.metrics.contentType).send(await opts.metrics.metrics());
  });
}
