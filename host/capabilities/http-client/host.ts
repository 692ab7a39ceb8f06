/**
 * greentic:http/http-client@1.0.0 and @1.1.0 as a guest sees it. In the worker: the ctx check
 * and the call count, the request count per call (settings.limits.max_http_requests), then the
 * request crosses to the main thread (the guest's call is synchronous; the worker waits), where
 * HttpClientService checks the allow-list and addresses and makes it.
 *
 * Guest errors (host-error codes): access-denied (ctx differs; no grant; origin, redirect or
 * address not allowed), invalid-argument (method, url, headers, body, allow-insecure),
 * limit-exceeded (requests per call, body sizes, redirects, capability calls), rate-limited
 * (the tenant's rate), timeout, unavailable (DNS, connection, TLS).
 */
import { enterGreentic, hostError } from '../greentic-ctx.js';
import { CapabilityError } from '../errors.js';
import type { InvocationScope } from '../scope.js';
import type { HttpClientService, HttpOptionsWire, HttpReply } from './client.js';

/** What the worker's side needs: the running call's scope, its deadline, and the crossing to the main thread. */
export interface HttpCallSite {
  readonly scope: InvocationScope;
  readonly deadlineAt: number;
  /** Requests this call has made (counted here, in the worker). */
  requests: number;
  cross(cap: string, fn: string, args: unknown[]): unknown;
}

interface GuestRequest {
  method: unknown;
  url: unknown;
  headers: unknown;
  body?: Uint8Array | undefined;
}

/** The worker-side `send`, for the version the component imports. */
export function httpClientImports(site: () => HttpCallSite, version: string) {
  const send = (req: GuestRequest, opts: HttpOptionsWire | undefined, ctx: unknown): unknown => {
    const s = site();
    try {
      enterGreentic(s.scope, 'http-client', 'send', ctx);
    } catch (e) {
      if (e instanceof CapabilityError) return { tag: 'err', val: hostError(e) };
      throw e;
    }
    const max = s.scope.permissions.limits.maxHttpRequests;
    if (++s.requests > max)
      return {
        tag: 'err',
        val: { code: 'limit-exceeded', message: `more than ${max} HTTP requests in one component call (settings.limits.max_http_requests)` },
      };
    const body = req.body instanceof Uint8Array ? Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength).toString('base64') : null;
    const wire = { method: req.method, url: req.url, headers: req.headers, body };
    const o = opts ? { timeoutMs: opts.timeoutMs, allowInsecure: opts.allowInsecure, followRedirects: opts.followRedirects } : undefined;
    const reply = s.cross('http-client', 'send', [ctx ?? null, wire, o, s.deadlineAt]) as HttpReply;
    if (reply.tag === 'err') return reply;
    const { status, headers, body: b64 } = reply.val;
    return { tag: 'ok', val: { status, headers, body: b64 === null ? undefined : new Uint8Array(Buffer.from(b64, 'base64')) } };
  };
  return version.startsWith('1.0.') ? { send: (req: GuestRequest, ctx: unknown) => send(req, undefined, ctx) } : { send };
}

/** The main thread's `send`, run by the bridge against the node's main-thread scope. */
export function httpClientBroker(scope: InvocationScope, service: HttpClientService | undefined) {
  return {
    async send(ctx: unknown, wire: unknown, opts: unknown, deadlineAt: unknown): Promise<HttpReply> {
      try {
        enterGreentic(scope, 'http-client', 'send', ctx);
      } catch (e) {
        if (e instanceof CapabilityError) return { tag: 'err', val: hostError(e) };
        throw e;
      }
      if (!service) return { tag: 'err', val: { code: 'unavailable', message: 'this host makes no HTTP requests for components' } };
      const deadline = typeof deadlineAt === 'number' && Number.isFinite(deadlineAt) ? deadlineAt : Date.now();
      return service.send(scope, wire, (opts ?? undefined) as HttpOptionsWire | undefined, deadline);
    },
  };
}
