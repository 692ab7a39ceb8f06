import { z } from 'zod';
import { callProvider, isResult, permanent, statusFailure } from '../delivery-results.js';
import { answerJson, type ProviderHttp } from '../http-client.js';
import type { DeliveryResult } from '../provider.js';

const TokenAnswer = z.object({
  access_token: z
    .string()
    .min(1)
    .max(16 * 1024)
    .regex(/^[\x21-\x7e]+$/),
  expires_in: z.number().positive().optional(),
});

/** Tokens kept at once (one per bot). */
const MAX_BOTS = 1000;

/**
 * The bot's own tokens for the Bot Framework connector (OAuth client credentials against the
 * configured token URL), cached until five minutes before they expire.
 */
export class BotTokens {
  readonly #cache = new Map<string, { token: string; until: number }>();

  constructor(
    private readonly http: ProviderHttp,
    private readonly tokenUrl: string,
    private readonly scope: string,
  ) {}

  /** A token for the bot `appId`, or the result explaining why there is none. */
  async token(appId: string, password: string, timeoutMs: number): Promise<string | DeliveryResult> {
    const key = `${appId}\n${password}`;
    const hit = this.#cache.get(key);
    if (hit && hit.until > Date.now()) return hit.token;
    const answer = await callProvider(
      this.http,
      {
        method: 'POST',
        url: new URL(this.tokenUrl),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: appId, client_secret: password, scope: this.scope }).toString(),
        timeoutMs,
        maxResponseBytes: 64 * 1024,
      },
      'the Bot Framework token endpoint',
    );
    // A token request that may have been seen is harmless to repeat: it sends no message.
    if (isResult(answer)) return answer.ok || !answer.maySent ? answer : { ...answer, retryable: true, maySent: false };
    if (answer.status === 400 || answer.status === 401)
      return permanent('bad-credentials', `the token endpoint refused the bot's app id and password (HTTP ${answer.status})`, answer.status);
    const byStatus = statusFailure(answer, 'the Bot Framework token endpoint');
    if (byStatus) return byStatus;
    const t = TokenAnswer.safeParse(answerJson(answer));
    if (!t.success) return permanent('bad-token-answer', 'the token endpoint answered without an access_token');
    const lifetime = Math.max(60, (t.data.expires_in ?? 3600) - 300) * 1000;
    this.#cache.delete(key);
    this.#cache.set(key, { token: t.data.access_token, until: Date.now() + lifetime });
    if (this.#cache.size > MAX_BOTS) this.#cache.delete(this.#cache.keys().next().value!);
    return t.data.access_token;
  }

  /** Drop the bot's cached token (the connector refused it). */
  forget(appId: string, password: string): void {
    this.#cache.delete(`${appId}\n${password}`);
  }
}
