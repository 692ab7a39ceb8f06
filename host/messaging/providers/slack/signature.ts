import { createHmac, timingSafeEqual } from 'node:crypto';
import { singleHeader, unauthorized, type Refusal, type WebhookRequest } from '../provider.js';

/** How old a signed request may be (Slack's own advice): older ones are refused as replays. */
export const SLACK_REPLAY_WINDOW_S = 300;

/**
 * Check Slack's v0 signature: HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}` under
 * the app's signing secret, compared in constant time, the timestamp within 5 minutes of now.
 */
export function verifySlackSignature(req: WebhookRequest, signingSecret: string): { ok: true } | { ok: false; refusal: Refusal } {
  const ts = singleHeader(req.headers, 'x-slack-request-timestamp');
  const sig = singleHeader(req.headers, 'x-slack-signature');
  if (ts === undefined || sig === undefined)
    return unauthorized('missing-signature', 'the request needs one X-Slack-Signature and one X-Slack-Request-Timestamp header');
  if (!/^[0-9]{1,12}$/.test(ts)) return unauthorized('invalid-signature', 'X-Slack-Request-Timestamp is not a Unix time in seconds');
  const age = Math.round(req.now / 1000 - Number(ts));
  if (Math.abs(age) > SLACK_REPLAY_WINDOW_S) {
    return unauthorized(
      'stale-request',
      `the request was signed ${Math.abs(age)} s ${age >= 0 ? 'ago' : 'in the future'}; at most ${SLACK_REPLAY_WINDOW_S} s are accepted`,
    );
  }
  if (!/^v0=[0-9a-f]{64}$/.test(sig)) return unauthorized('invalid-signature', 'X-Slack-Signature is not a v0 signature (v0= and 64 hex digits)');
  const expected = createHmac('sha256', signingSecret).update(`v0:${ts}:`).update(req.body).digest();
  if (!timingSafeEqual(Buffer.from(sig.slice(3), 'hex'), expected)) {
    return unauthorized('invalid-signature', 'the signature does not match (another signing secret, or a changed body or timestamp)');
  }
  return { ok: true };
}
