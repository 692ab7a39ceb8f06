import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** One request to a provider. */
export interface HttpCall {
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** The whole exchange, connect to last byte of the answer. */
  readonly timeoutMs: number;
  /** A longer answer is cut off and the call fails (the provider did answer, though). */
  readonly maxResponseBytes: number;
}

/** What the provider answered. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * A call that got no (complete) answer. `maySent` tells whether the provider may have acted on
 * it: false when the request never fully left (connection refused, DNS, a timeout before the
 * body was written), true once it did (a timeout or a reset while waiting for the answer).
 */
export class HttpCallError extends Error {
  override readonly name = 'HttpCallError';
  constructor(
    message: string,
    readonly maySent: boolean,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * HTTP for provider calls, one per host (its keep-alive agents are its own): no redirects
 * followed, a deadline on the whole exchange, a bound on the answer's size. Errors never carry
 * the URL (a Telegram bot token is part of its path).
 */
export class ProviderHttp {
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  readonly #https = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

  /** Make the call; resolves with any status (3xx included), rejects with HttpCallError. */
  call(c: HttpCall): Promise<HttpAnswer> {
    const secure = c.url.protocol === 'https:';
    if (!secure && c.url.protocol !== 'http:') return Promise.reject(new HttpCallError('the URL is not http(s)', false, 'bad-url'));
    const body = c.body === undefined ? undefined : Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body);
    const headers: Record<string, string> = { ...c.headers };
    if (body) headers['content-length'] = String(body.length);
    return new Promise<HttpAnswer>((resolve, reject) => {
      let written = false;
      let settled = false;
      const fail = (message: string, code: string, maySent = written) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(new HttpCallError(message, maySent, code));
      };
      const req = (secure ? httpsRequest : httpRequest)(c.url, { method: c.method, headers, agent: secure ? this.#https : this.#http });
      const timer = setTimeout(() => fail(`no answer within ${c.timeoutMs} ms`, 'timeout'), c.timeoutMs);
      req.on('finish', () => (written = true));
      req.on('error', (e: NodeJS.ErrnoException) => fail(`request failed: ${e.code ?? e.message}`, e.code ?? 'error', written && !NOT_SENT.has(e.code ?? '')));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > c.maxResponseBytes) fail(`the answer is larger than ${c.maxResponseBytes} bytes`, 'answer-too-large', true);
          else chunks.push(d);
        });
        res.on('error', (e: NodeJS.ErrnoException) => fail(`reading the answer failed: ${e.code ?? e.message}`, e.code ?? 'error', true));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      req.end(body);
    });
  }

  /** Close idle keep-alive connections. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/** Errors that mean the request never reached a server, even if Node had finished writing it to the socket buffer. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v === '') return undefined;
  if (/^\d{1,9}$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** JSON of an answer's body, or undefined when it is not JSON. */
export function answerJson(a: HttpAnswer): unknown {
  try {
    return JSON.parse(a.body.toString('utf8'));
  } catch {
    return undefined;
  }
}
