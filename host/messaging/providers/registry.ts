import type { SecretStore } from '../../stores/secret-store.js';
import type { ChannelModel } from '../../tenancy/model.js';
import type { ChannelAddress } from '../subjects.js';
import { ChannelCredentials } from './credentials.js';
import { DEFAULT_ENDPOINTS, type ProviderEndpoints } from './endpoints.js';
import { ProviderHttp } from './http-client.js';
import type { ChannelContext, ChannelProvider, WebhookProviderName } from './provider.js';
import { slackProvider } from './slack/provider.js';
import { createTeamsProvider } from './teams/provider.js';
import { telegramProvider } from './telegram/provider.js';

export interface ChannelProvidersOptions {
  readonly endpoints?: ProviderEndpoints;
  /** How often an unknown Bot Framework key id may fetch the key set again (tests rotate keys). */
  readonly teamsKeyCooldownMs?: number;
}

/**
 * The webhook providers of one host, by name, with what they share: the operator's endpoints,
 * one HTTP client (keep-alive connections) and the channels' credentials. A new provider is a
 * folder under providers/ implementing ChannelProvider, and one line here.
 */
export class ChannelProviders {
  readonly http = new ProviderHttp();
  readonly endpoints: ProviderEndpoints;
  readonly credentials: ChannelCredentials;
  readonly #byName: ReadonlyMap<string, ChannelProvider<any>>;
  /** A channel's config parsed once per loaded channel model. */
  readonly #configs = new WeakMap<ChannelModel, unknown>();

  constructor(secrets: SecretStore, opts: ChannelProvidersOptions = {}) {
    this.endpoints = opts.endpoints ?? DEFAULT_ENDPOINTS;
    this.credentials = new ChannelCredentials(secrets);
    this.#byName = new Map<string, ChannelProvider<any>>([
      ['slack', slackProvider],
      ['telegram', telegramProvider],
      ['teams', createTeamsProvider(this.http, this.endpoints, opts.teamsKeyCooldownMs)],
    ]);
  }

  /** The provider named `name` (a Map lookup: "constructor" is no provider). */
  get(name: string): ChannelProvider<unknown> | undefined {
    return this.#byName.get(name);
  }

  /** Names of the webhook providers. */
  names(): WebhookProviderName[] {
    return [...this.#byName.keys()] as WebhookProviderName[];
  }

  /** What `provider` is handed for the channel `channel` at `address`. */
  context(provider: ChannelProvider<unknown>, channel: ChannelModel, address: ChannelAddress): ChannelContext<unknown> {
    let config = this.#configs.get(channel);
    if (config === undefined) {
      // Validated when the tenant loaded (channel-config.ts): this parse only fills defaults.
      config = provider.configSchema.parse(channel.config ?? {});
      this.#configs.set(channel, config);
    }
    return { address, config, secrets: this.credentials.of(address), endpoints: this.endpoints, http: this.http };
  }

  close(): void {
    this.http.close();
  }
}
