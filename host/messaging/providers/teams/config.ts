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
});
export type TeamsChannelConfig = z.infer<typeof TeamsChannelConfigSchema>;
