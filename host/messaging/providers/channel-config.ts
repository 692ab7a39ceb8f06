import { z } from 'zod';
import { SlackChannelConfigSchema } from './slack/config.js';
import { TeamsChannelConfigSchema } from './teams/config.js';
import { TelegramChannelConfigSchema } from './telegram/config.js';

/** Webchat channels take no config (their limits are settings of the tenant). */
const WebchatChannelConfigSchema = z.strictObject({});

/** Each provider's schema of a channel's `config` map, by provider name. */
export const CHANNEL_CONFIG_SCHEMAS: ReadonlyMap<string, z.ZodType> = new Map<string, z.ZodType>([
  ['slack', SlackChannelConfigSchema],
  ['telegram', TelegramChannelConfigSchema],
  ['teams', TeamsChannelConfigSchema],
  ['webchat', WebchatChannelConfigSchema],
]);

/** The zod issues of a channel's `config` under its provider's schema (paths relative to `config`); none when it is valid. */
export function channelConfigIssues(provider: string, config: unknown): z.core.$ZodIssue[] {
  const schema = CHANNEL_CONFIG_SCHEMAS.get(provider);
  if (!schema) return [];
  const r = schema.safeParse(config ?? {});
  return r.success ? [] : r.error.issues;
}
