import { readFile } from 'node:fs/promises';
import { importPKCS8, SignJWT, type CryptoKey } from 'jose';
import type { ApiKeyConfig } from '../tenancy/config/schema.js';
import type { TenantModel } from '../tenancy/model.js';
import type { SecretStore } from '../stores/secret-store.js';
import type { ApiScope } from './auth.js';

export interface TokenRequest {
  readonly tenant: TenantModel;
  readonly teams: readonly string[];
  readonly envs: readonly string[];
  readonly scopes: readonly ApiScope[];
  readonly ttlSeconds: number;
  readonly subject: string;
  /** PKCS8 private key file, for tenants whose API key is asymmetric. */
  readonly privateKeyFile?: string | undefined;
}

/** Why a token cannot be minted. */
export class TokenMintError extends Error {
  override readonly name = 'TokenMintError';
}

/**
 * Mint an API token with the tenant's first configured key: its HS256 secret from the secret
 * store, or the private key file matching an asymmetric key.
 */
export async function mintToken(req: TokenRequest, secrets: SecretStore): Promise<string> {
  const api = req.tenant.api;
  if (!api) throw new TokenMintError(`tenant "${req.tenant.id}" has no api keys configured (api.keys in its config)`);
  const key: ApiKeyConfig = api.keys[0]!;
  let signingKey: Uint8Array | CryptoKey;
  if (key.alg === 'HS256') {
    const value = await secrets.get({ kind: 'tenant', tenant: req.tenant.id }, key.secret);
    if (value === null) {
      throw new TokenMintError(
        `tenant "${req.tenant.id}" has no secret "${key.secret}" yet; create one with: openssl rand -base64 32 | greentic-host secrets set --tenant ${req.tenant.id} ${key.secret}`,
      );
    }
    signingKey = new TextEncoder().encode(value);
  } else {
    if (!req.privateKeyFile) throw new TokenMintError(`tenant "${req.tenant.id}" signs with ${key.alg}: pass its private key with --key FILE (PKCS8 PEM)`);
    signingKey = await privateKey(req.privateKeyFile, key.alg);
  }
  const jwt = new SignJWT({ tenant: req.tenant.id, teams: [...req.teams], envs: [...req.envs], scope: req.scopes.join(' ') })
    .setProtectedHeader({ alg: key.alg, ...(key.kid ? { kid: key.kid } : {}) })
    .setIssuer(api.issuer)
    .setAudience(api.audience)
    .setSubject(req.subject)
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime(`${req.ttlSeconds}s`);
  return jwt.sign(signingKey);
}

/** The PKCS8 PEM private key in `file`; a missing file or one that is not such a key is a TokenMintError naming it. */
async function privateKey(file: string, alg: string): Promise<CryptoKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TokenMintError(`--key ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (e as Error).message})`}`);
  }
  if (!pem.includes('-----BEGIN PRIVATE KEY-----')) {
    const hint = /-----BEGIN (RSA |EC |OPENSSH )?PRIVATE KEY-----/.test(pem)
      ? 'convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8.pem'
      : 'expected a PKCS8 PEM private key (-----BEGIN PRIVATE KEY-----)';
    throw new TokenMintError(`--key ${file} is not a PKCS8 PEM private key: ${hint}`);
  }
  try {
    return (await importPKCS8(pem, alg)) as CryptoKey;
  } catch (e) {
    throw new TokenMintError(`--key ${file}: not an ${alg} private key, which the tenant's api.keys[0] needs (${(e as Error).message})`);
  }
}

/** Parse "90s", "15m", "1h", "7d" into seconds. */
export function parseTtl(text: string): number | null {
  const m = /^(\d{1,7})([smhd])$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return n > 0 && n <= 366 * 86400 ? n : null;
}
