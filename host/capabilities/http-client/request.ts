/**
 * A component's HTTP request (the WIT `request` record, its body base64 on the bridge) checked
 * before anything is sent: the method, an absolute http or https URL without credentials,
 * header names and values a server cannot mistake for two headers, headers the host sets
 * itself refused, and the body within its limit.
 */

/** The request as it crosses the bridge. */
export interface HttpRequestWire {
  readonly method: string;
  readonly url: string;
  readonly headers: Array<[string, string]>;
  /** base64, or null for none. */
  readonly body: string | null;
}

export interface CheckedRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Array<[string, string]>;
  readonly body: Buffer | null;
}

export const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Headers the host writes itself, or that would let a request choose its own framing or target. */
const HOST_SET = /^(host|content-length|transfer-encoding|connection|keep-alive|upgrade|te|trailer|expect|proxy-.*)$/i;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
const MAX_URL = 8192;
const MAX_HEADERS = 100;
const MAX_HEADER_BYTES = 64 * 1024;

/** The request checked, or why it cannot be sent. */
export function checkRequest(wire: unknown, maxBody: number): CheckedRequest | string {
  if (typeof wire !== 'object' || wire === null) return 'the request is not a request record';
  const w = wire as Partial<HttpRequestWire>;
  if (typeof w.method !== 'string' || !METHODS.has(w.method.toUpperCase())) {
    return `method ${JSON.stringify(String(w.method).slice(0, 20))} is not one of ${[...METHODS].join(', ')}`;
  }
  if (typeof w.url !== 'string' || w.url.length > MAX_URL) return `the url must be a text of at most ${MAX_URL} characters`;
  let url: URL;
  try {
    url = new URL(w.url);
  } catch {
    return `${JSON.stringify(w.url.slice(0, 100))} is not an absolute URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `the url's scheme must be http or https, not ${JSON.stringify(url.protocol)}`;
  if (url.username !== '' || url.password !== '') return 'a url with a user or password is refused; send an Authorization header';
  if (!Array.isArray(w.headers) || w.headers.length > MAX_HEADERS) return `headers must be a list of at most ${MAX_HEADERS} pairs`;
  let bytes = 0;
  const headers: Array<[string, string]> = [];
  for (const h of w.headers) {
    if (!Array.isArray(h) || typeof h[0] !== 'string' || typeof h[1] !== 'string') return 'a header is not a (name, value) pair of texts';
    const [name, value] = h as [string, string];
    if (!TOKEN.test(name)) return `header name ${JSON.stringify(name.slice(0, 60))} is not a token`;
    if (HOST_SET.test(name)) return `header "${name}" is set by the host`;
    if (/[\r\n\0]/.test(value)) return `header "${name}" has a line break or NUL in its value`;
    bytes += name.length + value.length;
    if (bytes > MAX_HEADER_BYTES) return `headers of more than ${MAX_HEADER_BYTES} bytes`;
    headers.push([name, value]);
  }
  let body: Buffer | null = null;
  if (w.body !== null && w.body !== undefined) {
    if (typeof w.body !== 'string') return 'the body is not bytes';
    // base64 of n bytes is 4 * ceil(n / 3) characters: refuse before decoding.
    if (w.body.length > Math.ceil(maxBody / 3) * 4) return `the request body is larger than ${maxBody} bytes (settings.limits.max_http_body_bytes)`;
    body = Buffer.from(w.body, 'base64');
    if (body.byteLength > maxBody) return `the request body is larger than ${maxBody} bytes (settings.limits.max_http_body_bytes)`;
  }
  return { method: w.method.toUpperCase(), url, headers, body };
}
