import { z } from 'zod';

/**
 * The Slack provider (`messaging-slack`). For now: what a Slack channel's `config` may say,
 * checked when the team loads. The webhook and egress of the provider live here as they come.
 */
export const SlackConfigSchema = z.strictObject({
  /** The Slack workspace (team) the channel belongs to: "T123456" (an Enterprise Grid org: "E..."). */
  workspace_id: z
    .string()
    .regex(/^[TE][A-Z0-9]{2,30}$/, 'expected a Slack workspace id: T (or E) and upper-case letters or digits, such as "T123456"')
    .optional(),
  /** The Slack conversation: a channel "C...", a private channel "G..." or a direct message "D...". */
  channel_id: z
    .string()
    .regex(/^[CGD][A-Z0-9]{2,30}$/, 'expected a Slack channel id: C, G or D and upper-case letters or digits, such as "C789012"')
    .optional(),
});
export type SlackConfig = z.infer<typeof SlackConfigSchema>;
