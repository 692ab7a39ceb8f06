/**
 * The main thread's side of greentic:http/http-client: one request of a component, checked and
 * made. The host resolves the name itself, checks every address it got, and connects to the
 * checked one (the socket's lookup is pinned to it), so a DNS answer that changes between the
 * check and the connection cannot switch the target. Redirects are followed by hand, each hop
 * checked like the first. One instance per host (it holds each tenant's rate bucket).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { TokenBucket } from '../../sandbox/rate-limit.js';
import { CapabilityError } from '../errors.js';
import type { InvocationScope } from '../scope.js';
import { AddressRanges } from './addresses.js';
import { originOf, type HttpRule } from './allow-list.js';
import { checkRequest, type HttpRequestWire, type CheckedRequest } from './request.js';

/** What the guest gets back: a response, or a host-error. */
export type HttpReply =
  { tag: 'ok'; val: { status: number; headers: Array<[string, string]>; body: string | null } } | { tag: 'err'; val: { code: string; message: string } };

/** Request options of http-client@1.1.0. */
export interface HttpOptionsWire {
  readonly timeoutMs?: number | undefined;
  readonly allowInsecure?: boolean | undefined;
  readonly followRedirects?: boolean | undefined;
}

/** Resolves a host name to every address it has. */
export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;

/** Redirects followed at most. */
export const MAX_REDIRECTS = 5;
/** Response headers passed back at most. */
const MAX_RESPONSE_HEADERS = 200;
/** Time kept back from the node's deadline for the component to use the response. */
const DEADLINE_MARGIN_MS = 50;

const METHOD_AFTER_REDIRECT = new Map([
  [301, 'GET'],
  [302, 'GET'],
  [303, 'GET'],
]);

const err = (code: string, message: string): HttpReply => ({ tag: 'err', val: { code, message } });

export class HttpClientService {
  readonly #ranges = new AddressRanges();
  /** One rate bucket per tenant environment ("tenant/env"): the keys are checked ids of configured tenants. */
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #resolve: Resolver;

  constructor(opts: { resolve?: Resolver } = {}) {
    this.#resolve = opts.resolve ?? ((host) => dnsLookup(host, { all: true, verbatim: true }));
  }

  /** Make one request for the component of `scope`; never throws for anything the guest did (host faults aside). */
  async send(scope: InvocationScope, wire: unknown, opts: HttpOptionsWire | undefined, deadlineAt: number): Promise<HttpReply> {
    try {
      return await this.#send(scope, wire, opts ?? {}, deadlineAt);
    } catch (e) {
      if (e instanceof CapabilityError) return err(e.tag, e.payload.val);
      throw e;
    }
  }

  async #send(scope: InvocationScope, wire: unknown, opts: HttpOptionsWire, deadlineAt: number): Promise<HttpReply> {
    const p = scope.permissions;
    const policy = p.http;
    if (!policy || policy.rules.length === 0) {
      scope.deny(
        'http-client',
        'send',
        `component "${p.component}" of tenant "${scope.ctx.tenantId}" may make no HTTP requests (grants.components.${p.component}.http)`,
      );
    }
    const limits = p.limits;
    const checked = checkRequest(wire, limits.maxHttpBodyBytes);
    if (typeof checked === 'string') return err('invalid-argument', checked);
    if (opts.allowInsecure === true) return err('invalid-argument', 'request-options.allow-insecure: TLS certificates are always verified here');
    const key = `${scope.ctx.tenantId}/${scope.ctx.envId}`;
    let bucket = this.#buckets.get(key);
    if (!bucket || bucket.ratePerSec !== limits.httpRatePerSec)
      this.#buckets.set(key, (bucket = new TokenBucket(limits.httpRatePerSec, limits.httpRatePerSec * 2)));
    if (!bucket.take()) {
      scope.logger.warn({ event: 'http-request', method: checked.method, origin: originOf(checked.url), outcome: 'rate-limited' }, 'http request refused');
      return err(
        'rate-limited',
        `more than ${limits.httpRatePerSec} HTTP requests a second for tenant "${scope.ctx.tenantId}" (settings.limits.http_rate_per_sec)`,
      );
    }
    const timeoutMs = Math.min(limits.httpTimeoutMs, opts.timeoutMs ?? Infinity, deadlineAt - Date.now() - DEADLINE_MARGIN_MS);
    const until = performance.now() + timeoutMs;
    let req: CheckedRequest = checked;
    for (let hop = 0; ; hop++) {
      const rule = policy!.match(req.url);
      if (!rule) {
        const what = hop === 0 ? `"${originOf(req.url)}"` : `a redirect to "${originOf(req.url)}"`;
        scope.deny('http-client', 'send', `${what} is not on the allow-list of component "${p.component}" (grants.components.${p.component}.http)`);
      }
      const address = await this.#address(scope, req.url, rule!, until);
      if ('tag' in address) return address;
      const res = await this.#exchange(scope, req, address, until, limits.maxHttpBodyBytes, hop);
      if (res.tag === 'err' || !isRedirect(res.val.status) || opts.followRedirects === false) return res;
      const location = res.val.headers.find(([k]) => k.toLowerCase() === 'location')?.[1];
      if (location === undefined) return res;
      if (hop >= MAX_REDIRECTS) return err('limit-exceeded', `more than ${MAX_REDIRECTS} redirects`);
      let next: URL;
      try {
        next = new URL(location, req.url);
      } catch {
        return err('invalid-argument', 'a redirect Location that is not a URL');
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') scope.deny('http-client', 'send', `a redirect to a ${next.protocol} URL`);
      const method = METHOD_AFTER_REDIRECT.has(res.val.status) && req.method !== 'HEAD' ? 'GET' : req.method;
      // Credentials stay with the origin they were meant for.
      const sameOrigin = next.origin === req.url.origin;
      const headers = req.headers.filter(([k]) => sameOrigin || !/^(authorization|cookie|proxy-authorization)$/i.test(k));
      req = { method, url: next, headers, body: method === req.method ? req.body : null };
    }
  }

  /** The one address to connect to, checked: every address the name has must be allowed. */
  async #address(scope: InvocationScope, url: URL, rule: HttpRule, until: number): Promise<{ ip: string; family: 4 | 6 } | HttpReply> {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    let found: Array<{ address: string; family: number }>;
    if (isIP(host) !== 0) found = [{ address: host, family: isIP(host) }];
    else {
      try {
        found = await withTimeout(this.#resolve(host), until - performance.now());
      } catch (e) {
        return err(
          (e as Error).message === 'timeout' ? 'timeout' : 'unavailable',
          `cannot resolve "${host}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
      if (found.length === 0) return err('unavailable', `"${host}" has no address`);
    }
    for (const a of found) {
      const kind = this.#ranges.classify(a.address);
      if (kind === null) continue;
      if (kind.startsWith('unspecified')) scope.deny('http-client', 'send', `"${host}" is ${a.address}, an unspecified address`);
      if (rule.literal || rule.privateNetwork) continue;
      scope.deny(
        'http-client',
        'send',
        `"${host}" resolves to ${a.address}, a ${kind} address; grant it by address (http://${a.family === 6 ? `[${a.address}]` : a.address}:${rule.port}) or with private_network: true`,
      );
    }
    const first = found[0]!;
    return { ip: first.address, family: first.family === 6 ? 6 : 4 };
  }

  /** One request and its response, the body read up to `maxBody`. */
  #exchange(scope: InvocationScope, req: CheckedRequest, to: { ip: string; family: 4 | 6 }, until: number, maxBody: number, hop: number): Promise<HttpReply> {
    const t0 = performance.now();
    const remaining = until - t0;
    const origin = originOf(req.url);
    const fields = { event: 'http-request', method: req.method, origin, address: to.ip, hop, header_names: req.headers.map(([k]) => k.toLowerCase()) };
    if (remaining <= 0) return Promise.resolve(err('timeout', `no time left before the node's deadline for a request to ${origin}`));
    // The socket connects to the address checked above, whatever the name resolves to now.
    const pinned: LookupFunction = (_host, options, cb) => {
      if ((options as { all?: boolean }).all)
        (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: to.ip, family: to.family }]);
      else cb(null, to.ip, to.family);
    };
    const options: RequestOptions = {
      method: req.method,
      host: req.url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: req.url.port === '' ? undefined : Number(req.url.port),
      path: `${req.url.pathname}${req.url.search}`,
      // A raw header list gets no Host header from node:http: the host writes it (guests may not).
      headers: [['host', req.url.host], ...req.headers, ...(req.body ? [['content-length', String(req.body.byteLength)]] : [])].flat(),
      lookup: pinned,
      agent: false,
      timeout: remaining,
      signal: AbortSignal.timeout(Math.max(1, Math.ceil(remaining))),
      maxHeaderSize: 64 * 1024,
    };
    return new Promise<HttpReply>((resolve) => {
      let settled = false;
      const finish = (reply: HttpReply, status?: number, bytesIn = 0) => {
        if (settled) return;
        settled = true;
        const outcome = reply.tag === 'ok' ? { status } : { outcome: reply.val.code };
        scope.logger.info(
          { ...fields, ...outcome, bytes_out: req.body?.byteLength ?? 0, bytes_in: bytesIn, ms: Math.round(performance.now() - t0) },
          'http request',
        );
        resolve(reply);
      };
      const make = req.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const r = make(options, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.byteLength;
          if (size > maxBody) {
            res.destroy();
            r.destroy();
            finish(
              err('limit-exceeded', `the response from ${origin} is larger than ${maxBody} bytes (settings.limits.max_http_body_bytes)`),
              res.statusCode,
              size,
            );
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const raw = res.rawHeaders;
          const headers: Array<[string, string]> = [];
          for (let i = 0; i + 1 < raw.length && headers.length < MAX_RESPONSE_HEADERS; i += 2) headers.push([raw[i]!, raw[i + 1]!]);
          const body = size === 0 ? null : Buffer.concat(chunks).toString('base64');
          finish({ tag: 'ok', val: { status: res.statusCode ?? 0, headers, body } }, res.statusCode, size);
        });
        res.on('error', (e) => finish(err('unavailable', `the response from ${origin} broke off: ${errorCode(e)}`), res.statusCode, size));
      });
      r.on('timeout', () => r.destroy(new Error('timeout')));
      r.on('error', (e) => {
        const timedOut = e.message === 'timeout' || e.name === 'AbortError' || e.name === 'TimeoutError';
        finish(timedOut ? err('timeout', `${origin} did not answer within ${Math.round(remaining)} ms`) : err('unavailable', `${origin}: ${errorCode(e)}`));
      });
      if (req.body) r.end(req.body);
      else r.end();
    });
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function errorCode(e: Error): string {
  return (e as NodeJS.ErrnoException).code ?? e.message.slice(0, 120);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  if (ms <= 0) return Promise.reject(new Error('timeout'));
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}
