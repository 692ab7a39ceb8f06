import type { IncomingHttpHeaders } from 'node:http';
import { HttpCallError, retryAfterMs, type HttpAnswer, type HttpCall, type ProviderHttp } from './http-client.js';
import type { DeliveryResult } from './provider.js';

/** The provider took it. */
export const DELIVERED: DeliveryResult = Object.freeze({ ok: true });

/** A failure no retry can fix (bad credentials, an unknown chat): the message becomes a dead letter at once. */
export function permanent(code: string, message: string, status?: number): DeliveryResult {
  return { ok: false, retryable: false, maySent: false, code, message, status };
}

/** A failure worth retrying later (rate limited, the provider down), with the provider's Retry-After if it gave one. */
export function transient(code: string, message: string, status?: number, headers?: IncomingHttpHeaders): DeliveryResult {
  return { ok: false, retryable: true, maySent: false, code, message, status, retryAfterMs: headers ? retryAfterMs(headers['retry-after']) : undefined };
}

/** What an answer's status alone says: 429 and 5xx are worth a retry, other non-2xx are not. Null for 2xx. */
export function statusFailure(a: HttpAnswer, provider: string): DeliveryResult | null {
  if (a.status >= 200 && a.status < 300) return null;
  if (a.status === 429) return transient('rate-limited', `${provider} answered 429 (rate limited)`, a.status, a.headers);
  if (a.status >= 500) return transient('provider-error', `${provider} answered ${a.status}`, a.status, a.headers);
  return permanent('provider-refused', `${provider} answered ${a.status}`, a.status);
}

/**
 * Make a call, turning a failed exchange into a result: one that never reached the provider is
 * retried; one that may have (a timeout after the request was sent) is not, since none of these
 * APIs can recognise a message sent twice.
 */
export async function callProvider(http: ProviderHttp, call: HttpCall, provider: string): Promise<HttpAnswer | DeliveryResult> {
  try {
    return await http.call(call);
  } catch (e) {
    if (!(e instanceof HttpCallError)) throw e;
    if (e.code === 'bad-url') return permanent('bad-url', `${provider}: ${e.message}`);
    if (e.maySent) {
      return {
        ok: false,
        retryable: false,
        maySent: true,
        code: 'no-answer',
        message: `${provider}: ${e.message} after the request was sent; it may have been delivered`,
      };
    }
    return transient('unreachable', `${provider}: ${e.message}`);
  }
}

/** True when `x` is a result (the call did not produce an answer). */
export function isResult(x: HttpAnswer | DeliveryResult): x is DeliveryResult {
  return 'ok' in x;
}
