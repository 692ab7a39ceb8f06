import { z } from 'zod';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * The Microsoft Teams provider (`messaging-teams`). For now: what a Teams channel's `config` may
 * say, checked when the team loads. The webhook and egress of the provider live here as they come.
 */
export const TeamsConfigSchema = z.strictObject({
  /** The bot's Microsoft App ID (a GUID). */
  app_id: z.string().regex(GUID, 'expected a Microsoft App ID (a GUID such as "00000000-0000-0000-0000-000000000000")').optional(),
  /** The Teams channel's conversation id, "19:...@thread.tacv2" (or "@thread.skype"). */
  channel_id: z
    .string()
    .max(200)
    .regex(/^19:[A-Za-z0-9_\-.]+@thread\.(tacv2|skype)$/, 'expected a Teams channel id such as "19:abc123@thread.tacv2"')
    .optional(),
});
export type TeamsConfig = z.infer<typeof TeamsConfigSchema>;
