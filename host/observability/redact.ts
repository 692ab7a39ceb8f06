/**
 * Credentials that may sit inside text the host prints: the userinfo of a URL
 * (nats://user:password@host, nats://TOKEN@host), NATS nkey seeds (S + a key type + base32),
 * JWTs, and `password=`/`token=` pairs. Every error message and log line goes through
 * `redactCredentials`, so a failed connection never prints what it was given.
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@?#]+)@/gi;
const NKEY_SEED = /\bS[UAONCPX][A-Z2-7]{50,}\b/g;
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const KEY_VALUE = /\b(pass(?:word)?|token|secret|auth_token|nkey|seed)(["']?\s*[:=]\s*["']?)([^\s"',;&}]+)/gi;

export const REDACTED = '[redacted]';

/** The text with every credential it contains replaced by [redacted]. */
export function redactCredentials(text: string): string {
  // Most lines carry none of these marks; skip the regular expressions for them.
  if (!/[:=@]|eyJ|\bS[UAONCPX]/.test(text)) return text;
  return text
    .replace(URL_USERINFO, (_, scheme: string, info: string) => {
      const colon = info.indexOf(':');
      // nats://user:password@ keeps the user name (it says which account failed); nats://token@ keeps nothing.
      return colon < 0 ? `${scheme}${REDACTED}@` : `${scheme}${info.slice(0, colon)}:${REDACTED}@`;
    })
    .replace(NKEY_SEED, REDACTED)
    .replace(JWT, REDACTED)
    .replace(KEY_VALUE, (_, key: string, sep: string) => `${key}${sep}${REDACTED}`);
}
