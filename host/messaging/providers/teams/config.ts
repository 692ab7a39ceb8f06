import { z } from 'zod';
import { secretName } from '../config-fields.js';

/**
 * The `config` of a Teams (Bot Framework) channel: where the bot's Microsoft App ID (the
 * audience of the tokens Bot Framework sends) and its client secret (for the tokens the host
 * sends) are kept.
 */
export const TeamsChannelConfigSchema = z.strictObject({
  /** Secret holding the bot's Microsoft App ID. */
  app_id: secretName('teams_app_id'),
  /** Secret holding the bot's client secret (app password). */
  app_password: secretName('teams_app_password'),
  /** The Teams channel's conversation id, "19:...@thread.tacv2" (or "@thread.skype"): which Teams channel this channel instance is. */
  channel_id: z
    .string()
    .max(200)
    .regex(/^19:[A-Za-z0-9_\-.]+@thread\.(tacv2|skype)$/, 'expected a Teams channel id such as "19:abc123@thread.tacv2"')
    .optional(),
});
export type TeamsChannelConfig = z.infer<typeof TeamsChannelConfigSchema>;
