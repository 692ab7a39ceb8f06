// greentic:http/http-client as the host serves it, against a real HTTP server on loopback: the
// allow-list, the address checks (names resolved by the host, rebinding, redirects), the size,
// time and rate limits, the ctx check, and what is logged. The resolver is the one seam: names
// such as app.test resolve to what each test says, as a hostile DNS server would answer.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpPolicy, type HttpGrantEntry } from '../../dist/capabilities/http-client/allow-list.js';
import { AddressRanges } from '../../dist/capabilities/http-client/addresses.js';
import { HttpClientService, type Resolver } from '../../dist/capabilities/http-client/client.js';
import { httpClientBroker } from '../../dist/capabilities/http-client/host.js';
import { DEFAULT_LIMITS } from '../../dist/tenancy/model.js';
import { ACME_CTX, testScope } from '../support/scope.js';

let server: Server;
let port = 0;
let hits = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/ok')
      return void res.writeHead(200, { 'x-answer': 'forty-two' }).end(`hello ${req.headers['x-token'] === 's3cret-value' ? 'token' : 'anon'}`);
    if (url.pathname === '/big') return void res.writeHead(200).end(Buffer.alloc(DEFAULT_LIMITS.maxHttpBodyBytes + 1, 0x61));
    if (url.pathname === '/slow') return void res.writeHead(200).write('partial');
    if (url.pathname === '/redirect') return void res.writeHead(302, { location: url.searchParams.get('to') ?? '/ok' }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A resolver answering from a table, as an attacker's DNS server would. */
const dns =
  (table: Record<string, string[]>): Resolver =>
  async (host) => {
    const found = Object.hasOwn(table, host) ? table[host]! : [];
    if (found.length === 0) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

function setup(grant: HttpGrantEntry[] | undefined, opts: { resolve?: Resolver; limits?: Partial<typeof DEFAULT_LIMITS> } = {}) {
  const t = testScope({ perms: { http: grant ? HttpPolicy.of(grant) : undefined, limits: { ...DEFAULT_LIMITS, ...opts.limits } } });
  const service = new HttpClientService({ resolve: opts.resolve ?? dns({}) });
  const get = (url: string, headers: Array<[string, string]> = [], deadlineAt = Date.now() + 30_000) =>
    service.send(t.scope, { method: 'GET', url, headers, body: null }, undefined, deadlineAt);
  return { ...t, service, get };
}

describe('greentic:http/http-client: only what the tenant grants', () => {
  it('a component with no http grant may send nothing: access-denied, counted, no request made', async () => {
    const { get, stats } = setup(undefined);
    const before = hits;
    expect(await get(`http://127.0.0.1:${port}/ok`)).toEqual({
      tag: 'err',
      val: { code: 'access-denied', message: 'http-client.send: component "probe" of tenant "acme" may make no HTTP requests (grants.components.probe.http)' },
    });
    expect(stats.denialCount).toBe(1);
    expect(hits).toBe(before);
  });

  it('a granted origin is reached; the log line has the tenant, origin and status, never a header value or body', async () => {
    const { get, logs } = setup([`http://127.0.0.1:${port}`]);
    const r = await get(`http://127.0.0.1:${port}/ok?key=query-secret`, [['x-token', 's3cret-value']]);
    expect(r.tag).toBe('ok');
    if (r.tag !== 'ok') return;
    expect(r.val.status).toBe(200);
    expect(Buffer.from(r.val.body!, 'base64').toString()).toBe('hello token');
    expect(r.val.headers).toContainEqual(['x-answer', 'forty-two']);
    const line = logs.lines.find((l) => l.event === 'http-request')!;
    expect(line).toMatchObject({
      tenant_id: 'acme',
      env_id: 'prod',
      team_id: 'support',
      method: 'GET',
      origin: `http://127.0.0.1:${port}`,
      status: 200,
      header_names: ['x-token'],
    });
    expect(logs.text()).not.toContain('s3cret-value');
    expect(logs.text()).not.toContain('query-secret');
    expect(logs.text()).not.toContain('hello token');
  });

  it('another origin, scheme or port than granted is access-denied', async () => {
    const { get } = setup([`http://127.0.0.1:${port}`]);
    for (const url of [`http://127.0.0.1:${port + 1}/ok`, `https://127.0.0.1:${port}/ok`, `http://127.0.0.2:${port}/ok`]) {
      const r = await get(url);
      expect(r).toMatchObject({ tag: 'err', val: { code: 'access-denied' } });
      expect(r.tag === 'err' && r.val.message).toMatch(
        /^http-client\.send: .* is not on the allow-list of component "probe" \(grants\.components\.probe\.http\)$/,
      );
    }
  });

  it('a granted name that resolves to loopback is refused unless the entry allows the private network', async () => {
    const resolve = dns({ 'app.test': ['127.0.0.1'] });
    const denied = await setup([`http://app.test:${port}`], { resolve }).get(`http://app.test:${port}/ok`);
    expect(denied).toEqual({
      tag: 'err',
      val: {
        code: 'access-denied',
        message: `http-client.send: "app.test" resolves to 127.0.0.1, a loopback address; grant it by address (http://127.0.0.1:${port}) or with private_network: true`,
      },
    });
    const allowed = await setup([{ origin: `http://app.test:${port}`, private_network: true }], { resolve }).get(`http://app.test:${port}/ok`);
    expect(allowed).toMatchObject({ tag: 'ok', val: { status: 200 } });
  });

  it('a name with one public and one loopback address is refused: every address must be allowed (DNS rebinding)', async () => {
    const { get } = setup([`http://rebind.test:${port}`], { resolve: dns({ 'rebind.test': ['93.184.216.34', '127.0.0.1'] }) });
    expect(await get(`http://rebind.test:${port}/ok`)).toMatchObject({ tag: 'err', val: { code: 'access-denied' } });
  });

  it('a redirect is checked like the first request: off the list, or to a private address, it is refused', async () => {
    const resolve = dns({ 'app.test': ['127.0.0.1'] });
    const { get } = setup([`http://127.0.0.1:${port}`, `http://public.test:${port}`], { resolve });
    const off = await get(`http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(`http://app.test:${port}/ok`)}`);
    expect(off).toEqual({
      tag: 'err',
      val: {
        code: 'access-denied',
        message: `http-client.send: a redirect to "http://app.test:${port}" is not on the allow-list of component "probe" (grants.components.probe.http)`,
      },
    });
    const privateHop = await setup([`http://127.0.0.1:${port}`, `http://app.test:${port}`], { resolve }).get(
      `http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(`http://app.test:${port}/ok`)}`,
    );
    expect(privateHop.tag === 'err' && privateHop.val.message).toBe(
      `http-client.send: "app.test" resolves to 127.0.0.1, a loopback address; grant it by address (http://127.0.0.1:${port}) or with private_network: true`,
    );
    const scheme = await get(`http://127.0.0.1:${port}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`);
    expect(scheme).toEqual({ tag: 'err', val: { code: 'access-denied', message: 'http-client.send: a redirect to a file: URL' } });
    const same = await get(`http://127.0.0.1:${port}/redirect?to=/ok`);
    expect(same).toMatchObject({ tag: 'ok', val: { status: 200 } });
  });

  it('a response larger than the body limit is cut off with limit-exceeded', async () => {
    const { get } = setup([`http://127.0.0.1:${port}`]);
    expect(await get(`http://127.0.0.1:${port}/big`)).toEqual({
      tag: 'err',
      val: {
        code: 'limit-exceeded',
        message: `the response from http://127.0.0.1:${port} is larger than ${DEFAULT_LIMITS.maxHttpBodyBytes} bytes (settings.limits.max_http_body_bytes)`,
      },
    });
  });

  it('a response that never ends is a timeout inside the node deadline', async () => {
    const { get } = setup([`http://127.0.0.1:${port}`], { limits: { httpTimeoutMs: 400 } });
    const r = await get(`http://127.0.0.1:${port}/slow`);
    expect(r.tag === 'err' && r.val.code).toBe('timeout');
    expect(r.tag === 'err' && r.val.message).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port} did not answer within \\d+ ms$`));
    const late = await get(`http://127.0.0.1:${port}/ok`, [], Date.now() - 1);
    expect(late).toEqual({
      tag: 'err',
      val: { code: 'timeout', message: `no time left before the node's deadline for a request to http://127.0.0.1:${port}` },
    });
  });

  it("the tenant's request rate is bounded: requests past the burst are rate-limited", async () => {
    const { get } = setup([`http://127.0.0.1:${port}`], { limits: { httpRatePerSec: 1 } });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await get(`http://127.0.0.1:${port}/ok`));
    expect(results.filter((r) => r.tag === 'err').map((r) => r.tag === 'err' && r.val)).toContainEqual({
      code: 'rate-limited',
      message: 'more than 1 HTTP requests a second for tenant "acme" (settings.limits.http_rate_per_sec)',
    });
  });

  it('refuses malformed requests before anything is sent', async () => {
    const { service, scope } = setup([`http://127.0.0.1:${port}`]);
    const send = (wire: unknown) => service.send(scope, wire, undefined, Date.now() + 10_000);
    const url = `http://127.0.0.1:${port}/ok`;
    expect(await send({ method: 'TRACE', url, headers: [], body: null })).toEqual({
      tag: 'err',
      val: { code: 'invalid-argument', message: 'method "TRACE" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' },
    });
    expect(await send({ method: 'GET', url, headers: [['host', 'evil.test']], body: null })).toEqual({
      tag: 'err',
      val: { code: 'invalid-argument', message: 'header "host" is set by the host' },
    });
    expect(await send({ method: 'GET', url, headers: [['x-a', 'b\r\nx-b: c']], body: null })).toEqual({
      tag: 'err',
      val: { code: 'invalid-argument', message: 'header "x-a" has a line break or NUL in its value' },
    });
    expect(await send({ method: 'GET', url: `http://user:pw@127.0.0.1:${port}/`, headers: [], body: null })).toEqual({
      tag: 'err',
      val: { code: 'invalid-argument', message: 'a url with a user or password is refused; send an Authorization header' },
    });
    expect(await service.send(scope, { method: 'GET', url, headers: [], body: null }, { allowInsecure: true }, Date.now() + 10_000)).toEqual({
      tag: 'err',
      val: { code: 'invalid-argument', message: 'request-options.allow-insecure: TLS certificates are always verified here' },
    });
  });

  it("another tenant's ctx is access-denied and counted, and nothing is sent", async () => {
    const { scope, service, stats, logs } = setup([`http://127.0.0.1:${port}`]);
    const broker = httpClientBroker(scope, service);
    const before = hits;
    const wire = { method: 'GET', url: `http://127.0.0.1:${port}/ok`, headers: [], body: null };
    const forged = { tenant: 'bigcorp', tenantId: 'bigcorp', env: 'prod', team: 'support', teamId: 'support' };
    const r = await broker.send(forged, wire, undefined, Date.now() + 10_000);
    expect(r).toEqual({
      tag: 'err',
      val: { code: 'access-denied', message: 'http-client.send: ctx names tenant "bigcorp" but this call is bound to tenant "acme"' },
    });
    expect(stats.denialCount).toBe(1);
    expect(hits).toBe(before);
    expect(logs.lines.find((l) => l.event === 'access-denied')).toMatchObject({
      tenant_id: 'acme',
      bound_scope: 'acme/prod/support',
      requested_scope: 'bigcorp/prod/support',
    });
    const own = { tenant: ACME_CTX.tenantId, tenantId: ACME_CTX.tenantId, env: ACME_CTX.envId, team: 'support', teamId: 'support' };
    expect(await broker.send(own, wire, undefined, Date.now() + 10_000)).toMatchObject({ tag: 'ok', val: { status: 200 } });
    expect(await broker.send(null, wire, undefined, Date.now() + 10_000)).toMatchObject({ tag: 'ok', val: { status: 200 } });
  });
});

describe('address classes, by generated addresses', () => {
  const octet = fc.integer({ min: 0, max: 255 });
  const inRange = (a: number, b?: fc.Arbitrary<number>) => fc.tuple(b ?? octet, octet, octet).map(([x, y, z]) => `${a}.${x}.${y}.${z}`);
  const nonPublic = fc.oneof(
    inRange(127),
    inRange(10),
    fc.tuple(fc.integer({ min: 16, max: 31 }), octet, octet).map(([x, y, z]) => `172.${x}.${y}.${z}`),
    fc.tuple(octet, octet).map(([y, z]) => `192.168.${y}.${z}`),
    fc.tuple(octet, octet).map(([y, z]) => `169.254.${y}.${z}`),
    fc.tuple(fc.integer({ min: 224, max: 255 }), octet, octet, octet).map((o) => o.join('.')),
  );
  const asV6 = (v4: string) => fc.constantFrom(`::ffff:${v4}`, `64:ff9b::${v4}`);

  it('a name resolving to any loopback, private, link-local or multicast address (or one inside IPv6) reaches nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        nonPublic.chain((v4) => fc.oneof(fc.constant(v4), asV6(v4))),
        async (address) => {
          const { get } = setup([`http://victim.test:${port}`], { resolve: dns({ 'victim.test': [address] }) });
          const before = hits;
          const r = await get(`http://victim.test:${port}/ok`);
          expect(r).toMatchObject({ tag: 'err', val: { code: 'access-denied' } });
          expect(hits).toBe(before);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('public unicast addresses are public, and every generated non-public one is classified', () => {
    const ranges = new AddressRanges();
    fc.assert(
      fc.property(nonPublic, (ip) => {
        expect(ranges.classify(ip)).not.toBeNull();
      }),
    );
    for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700::1111']) expect(ranges.classify(ip)).toBeNull();
    for (const ip of ['::1', 'fe80::1', 'fd00::1', 'ff02::1', '::ffff:127.0.0.1']) expect(ranges.classify(ip)).not.toBeNull();
  });
});
