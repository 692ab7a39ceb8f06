import { z } from 'zod';

/**
 * Where the providers are, an operator setting (`providers:` in `serve --config`), never a
 * tenant's: a tenant's config must not be able to make the host send a token, or any request,
 * to an address the operator did not choose. Defaults are the real services.
 */

const httpUrl = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.username === '' && u.password === '' && u.search === '' && u.hash === '';
    } catch {
      return false;
    }
  }, 'expected an http(s) URL without credentials, query or fragment');

export const ProviderEndpointsSchema = z.strictObject({
  slack: z.strictObject({ api_base_url: httpUrl.optional() }).optional(),
  telegram: z.strictObject({ api_base_url: httpUrl.optional() }).optional(),
  teams: z
    .strictObject({
      /** Bot Framework's OpenID metadata (its jwks_uri lists the keys tokens are signed with). */
      openid_metadata_url: httpUrl.optional(),
      /** The issuer those tokens must name. */
      issuer: z.string().min(1).max(512).optional(),
      /** Where the bot gets its own tokens (OAuth client credentials). */
      token_url: httpUrl.optional(),
      token_scope: z.string().min(1).max(512).optional(),
      /** serviceUrl prefixes an activity may name; replies go only there. */
      service_urls: z.array(httpUrl).min(1).max(100).optional(),
    })
    .optional(),
});
export type ProviderEndpointsConfig = z.infer<typeof ProviderEndpointsSchema>;

export interface ProviderEndpoints {
  readonly slack: { readonly apiBaseUrl: string };
  readonly telegram: { readonly apiBaseUrl: string };
  readonly teams: {
    readonly openidMetadataUrl: string;
    readonly issuer: string;
    readonly tokenUrl: string;
    readonly tokenScope: string;
    readonly serviceUrls: readonly string[];
  };
}

export const DEFAULT_ENDPOINTS: ProviderEndpoints = Object.freeze({
  slack: { apiBaseUrl: 'https://slack.com/api' },
  telegram: { apiBaseUrl: 'https://api.telegram.org' },
  teams: {
    openidMetadataUrl: 'https://login.botframework.com/v1/.well-known/openidconfiguration',
    issuer: 'https://api.botframework.com',
    tokenUrl: 'https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token',
    tokenScope: 'https://api.botframework.com/.default',
    serviceUrls: ['https://smba.trafficmanager.net/'],
  },
});

/** The endpoints an instance file names, over the defaults. */
export function resolveEndpoints(c: ProviderEndpointsConfig | undefined): ProviderEndpoints {
  const d = DEFAULT_ENDPOINTS;
  return {
    slack: { apiBaseUrl: c?.slack?.api_base_url ?? d.slack.apiBaseUrl },
    telegram: { apiBaseUrl: c?.telegram?.api_base_url ?? d.telegram.apiBaseUrl },
    teams: {
      openidMetadataUrl: c?.teams?.openid_metadata_url ?? d.teams.openidMetadataUrl,
      issuer: c?.teams?.issuer ?? d.teams.issuer,
      tokenUrl: c?.teams?.token_url ?? d.teams.tokenUrl,
      tokenScope: c?.teams?.token_scope ?? d.teams.tokenScope,
      serviceUrls: c?.teams?.service_urls ?? d.teams.serviceUrls,
    },
  };
}

/** `base` joined with `path` ("https://slack.com/api" + "chat.postMessage"), whether or not base ends in "/". */
export function endpointUrl(base: string, path: string): URL {
  // "./" first: a path segment with a colon ("bot123:ABC/sendMessage") must not read as a URL scheme.
  return new URL(`./${path.replace(/^\/+/, '')}`, base.endsWith('/') ? base : `${base}/`);
}

/**
 * True when `url` lies under one of `allowed` (same scheme, host and port, and a path below the
 * allowed one's). Compared on parsed URLs, so "https://smba.trafficmanager.net.evil/" or
 * "https://x@smba.trafficmanager.net/" do not pass.
 */
export function urlAllowed(url: string, allowed: readonly string[]): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.username !== '' || u.password !== '' || (u.protocol !== 'https:' && u.protocol !== 'http:')) return false;
  return allowed.some((a) => {
    const p = new URL(a);
    const prefix = p.pathname.endsWith('/') ? p.pathname : `${p.pathname}/`;
    const path = u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`;
    return u.protocol === p.protocol && u.host === p.host && path.startsWith(prefix);
  });
}
