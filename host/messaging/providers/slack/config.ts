import { z } from 'zod';
import { secretName, slackIdSchema } from '../config-fields.js';

/**
 * The `config` of a Slack channel. The spec's keys (workspace_id, channel_id) say which Slack
 * workspace and channel this channel instance is; the secret names say where its credentials
 * are (the team's namespace, then the tenant's).
 */
export const SlackChannelConfigSchema = z.strictObject({
  /** The Slack workspace ("team") id: an event from any other workspace is refused. */
  workspace_id: slackIdSchema('workspace').optional(),
  /** The Slack channel this channel answers: events from other Slack channels are ignored. */
  channel_id: slackIdSchema('channel').optional(),
  /** Secret holding the app's signing secret (verifies webhooks). */
  signing_secret: secretName('slack_signing_secret'),
  /** Secret holding the bot token, xoxb-... (chat.postMessage). */
  bot_token: secretName('slack_bot_token'),
});
export type SlackChannelConfig = z.infer<typeof SlackChannelConfigSchema>;
