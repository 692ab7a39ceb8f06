/**
 * greentic:oauth-broker/broker-v1@1.0.0 (get-consent-url, exchange-code, get-token). This host
 * configures no OAuth providers, so every call is refused: counted and logged as an
 * access denial, and answered with the empty string the WIT gives for an error.
 */
import { CapabilityError } from '../errors.js';
import type { InvocationScope } from '../scope.js';

export function oauthBrokerImports(site: () => { scope: InvocationScope }) {
  const refuse = (fn: string, provider: unknown): string => {
    const { scope } = site();
    try {
      scope.enter('oauth-broker', fn, scope.ctx);
      scope.deny('oauth-broker', fn, `no OAuth provider ${JSON.stringify(String(provider).slice(0, 64))} is configured for tenant "${scope.ctx.tenantId}"`);
    } catch (e) {
      if (!(e instanceof CapabilityError)) throw e;
    }
    return '';
  };
  return {
    getConsentUrl: (provider: unknown) => refuse('get-consent-url', provider),
    exchangeCode: (provider: unknown) => refuse('exchange-code', provider),
    getToken: (provider: unknown) => refuse('get-token', provider),
  };
}
