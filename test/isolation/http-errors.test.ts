import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../dist/api/server.js';
import { rawRequest, type RawResponse } from '../support/raw-http.js';
import { startHost, type TestHost } from '../support/host.js';

/** Ids of the example bundle that no anonymous response may name unless the request did. */
const NAMES = ['acme', 'bigcorp', 'support', 'helpdesk', 'sales', 'slack', 'telegram'];

let t: TestHost;
let app: FastifyInstance;
let port: number;
beforeAll(async () => {
  t = await startHost({ workers: 1, spare: false });
  app = await createHttpServer(t.host, { metricsToken: 'fuzz-metrics-token-0123456789' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

function request(method: string, path: string, headers: string[] = [], body = ''): Buffer {
  const head = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers, `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body)]);
}

/** Every error response is `{error: {code, message}}` (plus `retryable` where documented), as JSON. */
function expectDocumentedError(r: RawResponse): void {
  expect(r.status, r.raw).toBeGreaterThanOrEqual(400);
  expect(r.headers.get('content-type'), r.raw).toMatch(/^application\/json/);
  const body = JSON.parse(r.body) as Record<string, unknown>;
  expect(Object.keys(body), r.raw).toEqual(['error']);
  const error = body.error as Record<string, unknown>;
  expect(typeof error.code, r.raw).toBe('string');
  expect(error.code, r.raw).toMatch(/^[a-z][a-z-]*$/);
  expect(typeof error.message, r.raw).toBe('string');
  expect(
    Object.keys(error).filter((k) => !['code', 'message', 'retryable'].includes(k)),
    r.raw,
  ).toEqual([]);
  if (r.status === 429) expect(r.headers.get('retry-after'), r.raw).toMatch(/^[1-9]\d*$/);
}

describe("the framework's own refusals, in the documented shape", () => {
  const cases: Array<[string, Buffer, number, string, string]> = [
    ['a bad percent-encoding', request('GET', '/webchat/%zz/prod/helpdesk/webchat'), 400, 'bad-url', 'the URL is not valid (a malformed percent-encoding?)'],
    ['a URL segment over the limit', request('GET', `/api/v1/sessions/${'a'.repeat(300)}`), 414, 'url-too-long', 'a segment of the URL is too long'],
    ['headers over the limit', request('GET', '/healthz', [`X-Big: ${'b'.repeat(20_000)}`]), 431, 'headers-too-large', 'the request headers are too large'],
    ['a malformed request line', Buffer.from('GET /healthz HTTP/9.9 junk\r\n\r\n'), 400, 'bad-request', 'the request is not valid HTTP'],
    [
      'a control character in a header',
      Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', 'latin1'),
      400,
      'bad-request',
      'the request is not valid HTTP',
    ],
    ['an unknown route', request('GET', '/nope'), 404, 'not-found', 'no such route'],
    ['an unknown /api/v1 route, without credentials', request('GET', '/api/v1/tenants'), 404, 'not-found', 'no such route'],
    ['an unknown /api/v1 route, with a tenant header', request('DELETE', '/api/v1/flows/x', ['X-Tenant-ID: acme']), 404, 'not-found', 'no such route'],
    [
      'an unsupported content-type',
      request('POST', '/webchat/bigcorp/prod/helpdesk/webchat/messages', ['Content-Type: application/x-evil'], 'x'),
      415,
      'unsupported-media-type',
      'unsupported content-type; send application/json',
    ],
    [
      'invalid JSON',
      request('POST', '/webchat/bigcorp/prod/helpdesk/webchat/messages', ['Content-Type: application/json'], '{"text":'),
      400,
      'invalid-json',
      'the body is not valid JSON',
    ],
    [
      'a body over the limit',
      request('POST', '/webchat/bigcorp/prod/helpdesk/webchat/messages', ['Content-Type: application/json'], `{"text":"${'x'.repeat(70_000)}"}`),
      413,
      'body-too-large',
      'the body is larger than this route accepts',
    ],
    ['metrics without a token', request('GET', '/metrics'), 401, 'missing-token', 'the metrics endpoint needs its Bearer token'],
  ];
  it.each(cases)('%s', async (_what, raw, status, code, message) => {
    const r = await rawRequest(port, raw);
    expect(r.status, r.raw).toBe(status);
    expectDocumentedError(r);
    expect(JSON.parse(r.body)).toEqual({ error: { code, message } });
  });

  it('readiness is ready or not, and names no tenant', async () => {
    const r = await rawRequest(port, request('GET', '/readyz'));
    expect(r.status).toBe(200);
    expect(r.body).toBe('{"status":"ready"}');
  });
});

// Pieces an attacker combines: known routes, path segments that break encodings or limits, headers and bodies of every kind.
const route = fc.constantFrom(
  '/',
  '/healthz',
  '/readyz',
  '/metrics',
  '/api/v1/openapi.json',
  '/api/v1/sessions',
  '/api/v1/sessions/s1',
  '/api/v1/messages',
  '/api/v1/flows',
  '/api/v1/usage',
  '/api/v1/unknown',
  '/webchat/bigcorp/prod/helpdesk/webchat',
  '/webchat/bigcorp/prod/helpdesk/webchat/messages',
  '/webchat/bigcorp/prod/helpdesk/webchat/history',
  '/webchat/x/y/z/w/messages',
);
const nasty = fc.oneof(
  fc.constantFrom('%', '%zz', '%c0%80', '%ff%fe', '%00', '%2e%2e', '..', '%E0%A4%A', '%F0%9F%98', ';', '//', '?', '#', '*', '>', '__proto__', 'constructor'),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.stringMatching(/^[\x21-\x7e]{0,30}$/).map((s) => s.replace(/[ ?#]/g, '')),
  fc.integer({ min: 150, max: 400 }).map((n) => 'a'.repeat(n)),
);
const path = fc
  .tuple(
    route,
    fc.array(nasty, { maxLength: 3 }),
    fc.option(
      fc.string({ maxLength: 60 }).map((q) => encodeURI(q)),
      { nil: undefined },
    ),
  )
  .map(([r, extra, q]) => `${r}${extra.map((e) => `/${e}`).join('')}${q === undefined ? '' : `?${q}`}`)
  .filter((p) => !/[\s]/.test(p));
const headerValue = fc.oneof(
  fc.stringMatching(/^[\x20-\x7e]{0,80}$/),
  fc.string({ maxLength: 40 }),
  fc.integer({ min: 9000, max: 20_000 }).map((n) => 'v'.repeat(n)),
);
const header = fc.oneof(
  fc.tuple(
    fc.constantFrom('Content-Type', 'X-Tenant-ID', 'X-Team-ID', 'Authorization', 'Cookie', 'Accept', 'Transfer-Encoding', 'Content-Encoding', 'Expect'),
    headerValue,
  ),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/), headerValue),
  fc.constant<[string, string]>(['Content-Type', 'application/json']),
  fc.constant<[string, string]>(['Authorization', 'Bearer eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJhY21lIn0.']),
);
const body = fc.oneof(
  fc.constant(''),
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc.constantFrom('{"text":"hi"}', '{"__proto__":{"text":"x"}}', '{"text":"hi","constructor":1}', '{"env":"prod","channel":"slack","user":"u","text":"x"}'),
);
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'FOO', 'get', 'G\u00e9T');

describe('fuzzed raw HTTP requests', () => {
  it('every error is in the documented shape, nothing hangs or fails with 500, and no anonymous answer names a tenant it was not asked about', async () => {
    const runs = Number(process.env.GREENTIC_FUZZ_RUNS ?? 250);
    await fc.assert(
      fc.asyncProperty(method, path, fc.array(header, { maxLength: 5 }), body, async (m, p, hs, b) => {
        const lines = hs.map(([k, v]) => `${k}: ${v}`);
        const raw = Buffer.concat([
          Buffer.from(`${m} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.map((l) => `${l}\r\n`).join('')}`, 'latin1'),
          Buffer.from(`Content-Length: ${Buffer.byteLength(b)}\r\nConnection: close\r\n\r\n${b}`),
        ]);
        const r = await rawRequest(port, raw);
        expect(r.status, r.raw).not.toBe(500);
        if (r.status >= 400) expectDocumentedError(r);
        const asked = `${p}\n${lines.join('\n')}\n${b}`.toLowerCase();
        const authenticated = r.status < 400 && /^\/(api\/v1\/(sessions|flows|usage|messages)|metrics)/.test(p);
        if (!authenticated)
          for (const name of NAMES) if (!asked.includes(name)) expect(r.body.toLowerCase(), `${name} in ${r.raw}`).not.toMatch(new RegExp(`\\b${name}\\b`));
      }),
      { numRuns: runs, seed: process.env.GREENTIC_FUZZ_SEED ? Number(process.env.GREENTIC_FUZZ_SEED) : undefined },
    );
    // The server still answers after all that.
    expect((await rawRequest(port, request('GET', '/healthz'))).body).toBe('{"status":"ok"}');
  });
});
