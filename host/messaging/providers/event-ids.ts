import { createHash } from 'node:crypto';
import type { ChannelAddress } from '../subjects.js';
import type { WebhookProviderName } from './provider.js';

/** Two letters per provider, so derived ids say where they came from. */
const PREFIX: Readonly<Record<WebhookProviderName, string>> = Object.freeze({ slack: 'sl', telegram: 'tg', teams: 'tm' });

/**
 * The ingress message id of a provider's event: a hash of the channel and the provider's event
 * id, so a redelivery of the event gets the same id (and is answered once), the same event id on
 * another channel a different one, and whatever the provider's id looks like (upper case,
 * colons, 300 characters), the result is a valid id and header value: never a "sanitised" copy.
 */
export function providerMessageId(provider: WebhookProviderName, address: ChannelAddress, eventId: string): string {
  const h = createHash('sha256').update(`${provider}\n${address.tenant}\n${address.env}\n${address.team}\n${address.channel}\n${eventId}`).digest('hex');
  return `${PREFIX[provider]}${h.slice(0, 40)}`;
}

/** The user id of a provider's user: stable for that user on this tenant, a valid id whatever the provider's id is. */
export function providerUserId(provider: WebhookProviderName, tenant: string, userId: string): string {
  const h = createHash('sha256').update(`${provider}\n${tenant}\n${userId}`).digest('hex');
  return `${PREFIX[provider]}u${h.slice(0, 32)}`;
}
