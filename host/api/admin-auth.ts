import { createHash, timingSafeEqual } from 'node:crypto';
import { MAX_CONFIG_FILE_BYTES, readTextBounded } from '../tenancy/config/config-file.js';
import { stat } from 'node:fs/promises';

/** Where the operator's admin token comes from: the variable itself, or a file it names. */
export const ADMIN_TOKEN_ENV = 'GREENTIC_ADMIN_TOKEN';
export const ADMIN_TOKEN_FILE_ENV = 'GREENTIC_ADMIN_TOKEN_FILE';
/** The shortest admin token accepted: `openssl rand -hex 32` gives 64 characters. */
export const MIN_ADMIN_TOKEN_LENGTH = 24;

/** The admin token is set badly (too short, unprintable, in a file others can read, set twice). */
export class AdminTokenError extends Error {
  override readonly name = 'AdminTokenError';
}

/** Check a token's form; it travels in a header, so it is printable ASCII without spaces. */
export function checkAdminToken(token: string, source: string): string {
  if (!/^[\x21-\x7e]+$/.test(token)) throw new AdminTokenError(`${source} must be printable ASCII without spaces`);
  if (token.length < MIN_ADMIN_TOKEN_LENGTH)
    throw new AdminTokenError(`${source} is ${token.length} characters; an admin token needs at least ${MIN_ADMIN_TOKEN_LENGTH} (e.g. openssl rand -hex 32)`);
  return token;
}

/**
 * The operator's admin token from the environment: GREENTIC_ADMIN_TOKEN, or the file
 * GREENTIC_ADMIN_TOKEN_FILE names (mode 0600 or stricter; one trailing newline allowed).
 * Undefined when neither is set: the instance then has no admin API.
 */
export async function adminTokenFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const direct = env[ADMIN_TOKEN_ENV] || undefined;
  const file = env[ADMIN_TOKEN_FILE_ENV] || undefined;
  if (direct !== undefined && file !== undefined) throw new AdminTokenError(`set ${ADMIN_TOKEN_ENV} or ${ADMIN_TOKEN_FILE_ENV}, not both`);
  if (direct !== undefined) return checkAdminToken(direct, ADMIN_TOKEN_ENV);
  if (file === undefined) return undefined;
  const st = await stat(file).catch(() => null);
  if (!st) throw new AdminTokenError(`${ADMIN_TOKEN_FILE_ENV}: ${file}: file not found`);
  if ((st.mode & 0o077) !== 0)
    throw new AdminTokenError(`${ADMIN_TOKEN_FILE_ENV}: ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 on it`);
  const read = await readTextBounded(file, { maxBytes: MAX_CONFIG_FILE_BYTES });
  if (!read.ok) throw new AdminTokenError(`${ADMIN_TOKEN_FILE_ENV}: ${file}: ${read.problems[0]!.message}`);
  return checkAdminToken(read.text.replace(/\r?\n$/, ''), `the token in ${file}`);
}

/** SHA-256 of a header value, so comparing two never leaks their lengths or contents through timing. */
const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The check on every /admin/v1 request: the operator's token as a Bearer token, compared in
 * constant time. A tenant's API token never passes: it is not the operator's token.
 */
export class AdminGate {
  readonly #want: Buffer;

  constructor(token: string) {
    this.#want = digest(`Bearer ${token}`);
  }

  /** 'ok', or why not: no Authorization header, or one that is not the operator's token. */
  check(authorization: string | string[] | undefined): 'ok' | 'missing' | 'wrong' {
    if (authorization === undefined) return 'missing';
    if (typeof authorization !== 'string') return 'wrong';
    return timingSafeEqual(digest(authorization), this.#want) ? 'ok' : 'wrong';
  }
}
