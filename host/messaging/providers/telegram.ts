import { z } from 'zod';

/**
 * The Telegram provider (`messaging-telegram`). For now: what a Telegram channel's `config` may
 * say, checked when the team loads. The webhook and egress of the provider live here as they come.
 */
export const TelegramConfigSchema = z.strictObject({
  /**
   * The chat: its numeric id ("-1001234567890" for a supergroup; a YAML number is taken as its
   * digits) or a public channel's "@username". Kept as a string: ids exceed 32 bits.
   */
  chat_id: z
    .union([z.string(), z.number().int().refine(Number.isSafeInteger, 'is too large; quote it')])
    .transform(String)
    .pipe(z.string().regex(/^(-?[1-9][0-9]{0,19}|@[A-Za-z][A-Za-z0-9_]{4,31})$/, 'expected a Telegram chat id (digits, "-" for groups) or "@channelname"'))
    .optional(),
});
export type TelegramConfig = z.infer<typeof TelegramConfigSchema>;
