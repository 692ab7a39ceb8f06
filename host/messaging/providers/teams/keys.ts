import { importJWK, type JWK } from 'jose';

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;
import { z } from 'zod';
import { answerJson, type ProviderHttp } from '../http-client.js';

/** A signing key Bot Framework publishes, with the channels it is endorsed for. */
export interface EndorsedKey {
  readonly key: VerifyKey;
  /** Channel ids ("msteams") the key may sign for; undefined when the JWKS says nothing. */
  readonly endorsements: readonly string[] | undefined;
}

const Metadata = z.object({ jwks_uri: z.string().max(2048).url() });
const Jwks = z.object({
  keys: z
    .array(z.object({ kid: z.string().min(1).max(256), kty: z.string(), endorsements: z.array(z.string().max(64)).max(100).optional() }).passthrough())
    .max(100),
});

/** How long fetched keys are used before they are fetched again. */
const REFRESH_MS = 24 * 3600_000;

/**
 * Bot Framework's token signing keys, found through its OpenID metadata (configured, not
 * guessed) and cached. An unknown key id fetches the set again, but at most once per
 * `cooldownMs`: a flood of tokens with made-up key ids costs no more than one fetch.
 */
export class BotFrameworkKeys {
  #keys = new Map<string, EndorsedKey>();
  #fetchedAt = -Infinity;
  #fetching: Promise<void> | undefined;

  constructor(
    private readonly http: ProviderHttp,
    private readonly metadataUrl: string,
    private readonly cooldownMs = 60_000,
  ) {}

  /** The key with this id, or null when the published set has none. */
  async key(kid: string): Promise<EndorsedKey | null> {
    const now = Date.now();
    const stale = now - this.#fetchedAt > REFRESH_MS;
    if ((stale || !this.#keys.has(kid)) && now - this.#fetchedAt > this.cooldownMs) {
      this.#fetching ??= this.#fetch().finally(() => (this.#fetching = undefined));
      await this.#fetching;
    }
    return this.#keys.get(kid) ?? null;
  }

  async #fetch(): Promise<void> {
    this.#fetchedAt = Date.now();
    const meta = Metadata.safeParse(answerJson(await this.#get(this.metadataUrl, 64 * 1024)));
    if (!meta.success) throw new Error('the OpenID metadata has no jwks_uri');
    const jwks = Jwks.safeParse(answerJson(await this.#get(meta.data.jwks_uri, 1024 * 1024)));
    if (!jwks.success) throw new Error('the JWKS is not a key set');
    const keys = new Map<string, EndorsedKey>();
    for (const k of jwks.data.keys) {
      if (k.kty !== 'RSA') continue;
      const { endorsements, ...jwk } = k;
      try {
        keys.set(k.kid, { key: await importJWK(jwk as JWK, 'RS256'), endorsements });
      } catch {
        // A key that does not import is not one a token can be verified with.
      }
    }
    this.#keys = keys;
  }

  async #get(url: string, maxResponseBytes: number) {
    const a = await this.http.call({ method: 'GET', url: new URL(url), timeoutMs: 5000, maxResponseBytes });
    if (a.status !== 200) throw new Error(`${new URL(url).host} answered ${a.status}`);
    return a;
  }
}
