import type { z } from 'zod';
import { SlackChannelConfigSchema } from './slack/config.js';
import { TeamsChannelConfigSchema } from './teams/config.js';
import { TelegramChannelConfigSchema } from './telegram/config.js';
import { WebchatConfigSchema } from './webchat-config.js';

/** The messaging providers a channel may name. */
export const PROVIDERS = ['slack', 'telegram', 'teams', 'webchat'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** A provider as config sees it: its name and the schema of a channel's `config` (its own module's). */
export interface ChannelProviderSpec {
  readonly name: Provider;
  /** The spec's name for it: "messaging-slack". */
  readonly specName: string;
  readonly configSchema: z.ZodType<Record<string, unknown>>;
}

const SPECS: ReadonlyMap<Provider, ChannelProviderSpec> = new Map(
  (
    [
      ['slack', SlackChannelConfigSchema],
      ['telegram', TelegramChannelConfigSchema],
      ['teams', TeamsChannelConfigSchema],
      ['webchat', WebchatConfigSchema],
    ] as const
  ).map(([name, configSchema]) => [name, { name, specName: `messaging-${name}`, configSchema: configSchema as z.ZodType<Record<string, unknown>> }]),
);

/** Every name a channel's `provider` may be: the spec's ("messaging-slack") and the short one ("slack"). */
export const PROVIDER_NAMES: readonly string[] = PROVIDERS.flatMap((p) => [`messaging-${p}`, p]);

/** The provider `name` means ("messaging-slack" or "slack"), or undefined. */
export function channelProvider(name: string): ChannelProviderSpec | undefined {
  const short = name.startsWith('messaging-') ? name.slice('messaging-'.length) : name;
  return (PROVIDERS as readonly string[]).includes(short) ? SPECS.get(short as Provider) : undefined;
}
