import { createHash } from 'node:crypto';
import { decodeJwt, errors, importSPKI, jwtVerify, type CryptoKey, type JWTHeaderParameters, type KeyObject } from 'jose';
import { z } from 'zod';
import { idSchema } from '../tenancy/config/schema.js';
import { checkId, InvalidIdError } from '../tenancy/ids.js';
import type { TenantModel } from '../tenancy/model.js';
import type { SecretStore } from '../stores/secret-store.js';

/** What a token lets its bearer do. */
export type ApiScope = 'read' | 'write' | 'admin';

/** The caller of an API request, once its token and headers check out. */
export interface ApiPrincipal {
  readonly tenant: string;
  /** The team named by X-Team-ID (one of the token's teams). */
  readonly team: string;
  readonly teams: readonly string[];
  readonly envs: readonly string[];
  readonly scopes: ReadonlySet<ApiScope>;
  readonly subject: string;
}

/** A refused request: the status, a stable code and a message saying which check failed. */
export class ApiAuthError extends Error {
  override readonly name = 'ApiAuthError';
  constructor(
    readonly status: 400 | 401 | 403,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The claims a greentic-host API token carries besides the registered ones. */
export const TokenClaimsSchema = z.object({
  tenant: idSchema('tenant'),
  teams: z.array(idSchema('team')).min(1),
  envs: z.array(idSchema('env')).min(1),
  scope: z.string().regex(/^(read|write|admin)( (read|write|admin))*$/, 'expected space-separated scopes: read, write, admin'),
});

type VerifyKey = CryptoKey | KeyObject | Uint8Array;

/** How long a tenant's HS256 secret is kept before it is read from the store again. */
const SECRET_TTL_MS = 30_000;

/**
 * Each tenant's token verification keys, from its `api` config: HS256 secrets read from the
 * tenant's secret namespace (cached briefly, so a rotated secret takes effect), public keys
 * read from their files once. A token is only ever checked with its tenant's own keys and
 * algorithms, so an HS256 token made with an RS256 public key, or `alg: none`, never passes.
 */
export class TenantKeyring {
  readonly #secrets = new Map<string, { at: number; key: Uint8Array | null }>();
  readonly #publicKeys = new Map<string, Promise<VerifyKey>>();

  constructor(
    private readonly tenants: ReadonlyMap<string, TenantModel>,
    private readonly store: SecretStore,
  ) {}

  /** Verify `token` for `tenant`; returns its claims or throws ApiAuthError (401). */
  async verify(tenant: string, token: string): Promise<z.infer<typeof TokenClaimsSchema> & { sub?: string }> {
    const model = this.tenants.get(tenant);
    const api = model?.api;
    if (!model || !api) throw new ApiAuthError(401, 'invalid-token', `tokens of tenant "${tenant}" cannot be verified here`);
    const algorithms = [...new Set(api.keys.map((k) => k.alg))];
    const resolveKey = async (header: JWTHeaderParameters): Promise<VerifyKey> => {
      const candidates = api.keys.filter((k) => k.alg === header.alg && (header.kid === undefined || k.kid === undefined || k.kid === header.kid));
      const k = candidates[0];
      if (!k) throw new ApiAuthError(401, 'invalid-token', `no key of tenant "${tenant}" for alg ${header.alg}${header.kid ? ` and kid ${header.kid}` : ''}`);
      if (k.alg === 'HS256') {
        const secret = await this.#secret(tenant, k.secret);
        if (!secret) throw new ApiAuthError(401, 'invalid-token', `tenant "${tenant}" has no API signing secret "${k.secret}" set`);
        return secret;
      }
      // The PEM was read from inside the tenant's folder when it loaded; nothing is read here. A
      // reload with another key in the same file is another key.
      const cacheKey = `${tenant}\n${k.kid ?? ''}\n${createHash('sha256').update(k.public_key_pem).digest('hex')}`;
      let pending = this.#publicKeys.get(cacheKey);
      if (!pending) {
        pending = importSPKI(k.public_key_pem, k.alg).catch(() => {
          throw new ApiAuthError(401, 'invalid-token', `the public key of tenant "${tenant}" (${k.kid ?? k.alg}) is not a usable ${k.alg} SPKI PEM`);
        });
        this.#publicKeys.set(cacheKey, pending);
      }
      return pending;
    };
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, resolveKey, { algorithms, issuer: api.issuer, audience: api.audience, requiredClaims: ['exp'] }));
    } catch (e) {
      throw describeJoseError(e);
    }
    const claims = TokenClaimsSchema.safeParse(payload);
    if (!claims.success) {
      const issue = claims.error.issues[0]!;
      throw new ApiAuthError(401, 'invalid-token', `token claim ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    return { ...claims.data, sub: typeof payload.sub === 'string' ? payload.sub : undefined };
  }

  async #secret(tenant: string, name: string): Promise<Uint8Array | null> {
    const cacheKey = `${tenant}/${name}`;
    const hit = this.#secrets.get(cacheKey);
    if (hit && Date.now() - hit.at < SECRET_TTL_MS) return hit.key;
    const value = await this.store.get({ kind: 'tenant', tenant }, name);
    const key = value === null ? null : new TextEncoder().encode(value);
    this.#secrets.set(cacheKey, { at: Date.now(), key });
    return key;
  }
}

function describeJoseError(e: unknown): ApiAuthError {
  if (e instanceof ApiAuthError) return e;
  if (e instanceof errors.JWTExpired) return new ApiAuthError(401, 'token-expired', 'the token has expired (exp)');
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return new ApiAuthError(401, 'token-not-yet-valid', 'the token is not valid yet (nbf)');
    return new ApiAuthError(401, 'invalid-token', `token claim ${e.claim} is wrong: ${e.reason === 'missing' ? 'missing' : 'unexpected value'}`);
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return new ApiAuthError(401, 'algorithm-not-allowed', 'the token uses an algorithm this tenant does not accept');
  if (e instanceof errors.JWSSignatureVerificationFailed) return new ApiAuthError(401, 'bad-signature', 'the token signature does not verify');
  if (e instanceof errors.JOSEError) return new ApiAuthError(401, 'invalid-token', `the token is not valid: ${e.code}`);
  return new ApiAuthError(401, 'invalid-token', 'the token is not valid');
}

/** A required header, as an id; missing or malformed is 400. */
function headerId(kind: 'tenant' | 'team', headers: Record<string, string | string[] | undefined>, name: string): string {
  const raw = headers[name];
  if (raw === undefined) throw new ApiAuthError(400, `missing-${kind}-header`, `the ${headerName(name)} header is required`);
  if (Array.isArray(raw)) throw new ApiAuthError(400, 'invalid-id', `the ${headerName(name)} header is given more than once`);
  try {
    return checkId(kind, raw, `the ${headerName(name)} header`);
  } catch (e) {
    if (e instanceof InvalidIdError) throw new ApiAuthError(400, 'invalid-id', e.message);
    throw e;
  }
}
const headerName = (n: string) => n.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => `${d}${c.toUpperCase()}`).replace('-Id', '-ID');

/**
 * Authenticate a request: X-Tenant-ID (400 if missing), a Bearer token (401) whose tenant is
 * that tenant (403) and that verifies with that tenant's keys (401), and X-Team-ID (400) that is
 * one of the token's teams (403). There is never a default tenant.
 */
export async function authenticate(headers: Record<string, string | string[] | undefined>, keyring: TenantKeyring): Promise<ApiPrincipal> {
  const tenant = headerId('tenant', headers, 'x-tenant-id');
  const authz = headers.authorization;
  const match = typeof authz === 'string' ? /^Bearer ([A-Za-z0-9_.-]+)$/.exec(authz) : null;
  if (!match) throw new ApiAuthError(401, 'missing-token', 'an Authorization: Bearer <token> header is required');
  const token = match[1]!;
  let unverified: Record<string, unknown>;
  try {
    unverified = decodeJwt(token);
  } catch {
    throw new ApiAuthError(401, 'invalid-token', 'the token is not a JWT');
  }
  if (unverified.tenant !== tenant) {
    throw new ApiAuthError(403, 'tenant-mismatch', `the token is not for the tenant named by X-Tenant-ID ("${tenant}")`);
  }
  const claims = await keyring.verify(tenant, token);
  const team = headerId('team', headers, 'x-team-id');
  if (!claims.teams.includes(team)) throw new ApiAuthError(403, 'team-not-allowed', `the token does not cover team "${team}"`);
  return {
    tenant,
    team,
    teams: claims.teams,
    envs: claims.envs,
    scopes: new Set(claims.scope.split(' ') as ApiScope[]),
    subject: claims.sub ?? 'unknown',
  };
}

/** Throw 403 unless the principal may `need` (admin covers everything, write covers read). */
export function requireScope(p: ApiPrincipal, need: ApiScope): void {
  const ok = p.scopes.has('admin') || p.scopes.has(need) || (need === 'read' && p.scopes.has('write'));
  if (!ok) throw new ApiAuthError(403, 'insufficient-scope', `this needs the "${need}" scope; the token has: ${[...p.scopes].join(' ')}`);
}

/** Throw 403 unless the principal may act on environment `env`. */
export function requireEnv(p: ApiPrincipal, env: string): void {
  if (!p.envs.includes(env)) throw new ApiAuthError(403, 'env-not-allowed', `the token does not cover environment "${env}"`);
}
