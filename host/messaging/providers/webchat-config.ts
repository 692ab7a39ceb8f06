import { z } from 'zod';

/** What a webchat channel's `config` may say (the provider itself is webchat.ts). */
export const WebchatConfigSchema = z.strictObject({
  /** The chat page's title; default: the tenant's and team's names. */
  title: z.string().min(1).max(200).optional(),
});
export type WebchatConfig = z.infer<typeof WebchatConfigSchema>;
