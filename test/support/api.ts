import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SignJWT, type JWTPayload } from 'jose';
import { createHttpServer } from '../../dist/api/server.js';
import { copyExamples, writeFiles } from './bundle.js';
import { startHost, type TestHost } from './host.js';

export const ACME_SECRET = 'acme-api-secret-0123456789abcdef0123456789';
/** The operator's token for /metrics on the fixture's server. */
export const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

/** A host serving the examples over HTTP, with acme on HS256 and bigcorp on an RS256 key pair made here. */
export interface ApiFixture {
  readonly t: TestHost;
  readonly app: FastifyInstance;
  readonly base: string;
  readonly bigcorpPrivate: import('node:crypto').KeyObject;
  readonly bigcorpPublicPem: string;
  close(): Promise<void>;
}

export async function startApi(): Promise<ApiFixture> {
  const bundle = copyExamples();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const bigcorpPublicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(bundle.dir, 'tenants/bigcorp/keys/api-rs256.pub.pem'), bigcorpPublicPem);
  const bundleYaml = (await import('node:fs')).readFileSync(join(bundle.dir, 'bundle.yaml'), 'utf8');
  writeFiles(bundle.dir, {
    'bundle.yaml': bundleYaml.replace(
      /- alg: EdDSA\n\s+kid: bigcorp-2026\n\s+public_key_file: tenants\/bigcorp\/keys\/api-ed25519\.pub\.pem/,
      '- alg: RS256\n          public_key_file: tenants/bigcorp/keys/api-rs256.pub.pem',
    ),
  });
  const t = await startHost({ bundleDir: bundle.dir });
  if (t.host.problems.length > 0) throw new Error(JSON.stringify(t.host.problems));
  await t.host.secrets.set({ kind: 'tenant', tenant: 'acme' }, 'api_jwt_secret', ACME_SECRET);
  const app = await createHttpServer(t.host, { replyTimeoutMs: 20_000, metricsToken: METRICS_TOKEN });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    t,
    app,
    base,
    bigcorpPrivate: privateKey,
    bigcorpPublicPem,
    close: async () => {
      await app.close();
      await t.close();
      bundle.cleanup();
    },
  };
}

/** Claims of a valid acme token, to start from and break one thing at a time. */
export function acmeClaims(over: JWTPayload = {}): JWTPayload {
  return { tenant: 'acme', teams: ['support'], envs: ['prod'], scope: 'read write', iss: 'greentic-host', aud: 'greentic-api', sub: 'tester', ...over };
}

/** Sign `claims` as acme does (HS256 with its secret), unless told otherwise. */
export async function sign(
  claims: JWTPayload,
  opts: { key?: Uint8Array | import('node:crypto').KeyObject; alg?: string; exp?: string | number } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'HS256' }).setIssuedAt();
  if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
  else if (claims.exp === undefined) jwt.setExpirationTime('10m');
  return jwt.sign(opts.key ?? new TextEncoder().encode(ACME_SECRET));
}

/** An HTTP call with the scope headers set the usual way (override or drop with `headers`). */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; tenant?: string | null; team?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.tenant !== null) headers['x-tenant-id'] = opts.tenant ?? 'acme';
  if (opts.team !== null) headers['x-team-id'] = opts.team ?? 'support';
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, text };
}
