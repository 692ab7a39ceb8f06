import { z } from 'zod';
import { secretName } from '../config-fields.js';

/** A Telegram chat id: a (negative for groups) integer, as YAML writes it or as a string, or a public @channelusername. */
const chatId = z
  .union([
    z.number().int().safe(),
    z.string().regex(/^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/, 'expected a chat id like "-1001234567890" or "@channelname"'),
  ])
  .transform(String);

/**
 * The `config` of a Telegram channel: the spec's chat_id (which chat this channel is; updates
 * from other chats are ignored), and where the bot's credentials are.
 */
export const TelegramChannelConfigSchema = z.strictObject({
  chat_id: chatId.optional(),
  /** Secret holding the secret_token given to setWebhook (Telegram sends it back in X-Telegram-Bot-Api-Secret-Token). */
  secret_token: secretName('telegram_secret_token'),
  /** Secret holding the bot token, 123456:ABC... (sendMessage). */
  bot_token: secretName('telegram_bot_token'),
});
export type TelegramChannelConfig = z.infer<typeof TelegramChannelConfigSchema>;
