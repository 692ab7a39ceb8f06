import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';
import type { AttachmentRef, ReplyTo } from '../envelope.js';
import type { ChannelAddress } from '../subjects.js';
import type { ProviderEndpoints } from './endpoints.js';
import type { ProviderHttp } from './http-client.js';

/** The providers served over webhooks (webchat is served by its own routes, synchronously). */
export type WebhookProviderName = 'slack' | 'telegram' | 'teams';

/** A webhook request as it arrived: headers and the raw body, not parsed yet. */
export interface WebhookRequest {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Now, in ms since the epoch (a parameter, so tests can sign in the past). */
  readonly now: number;
}

/** The channel's credentials: named secrets read from its team's namespace, then its tenant's. */
export interface ChannelSecrets {
  get(name: string): Promise<string | null>;
}

/** What a provider is handed about the channel a webhook or a reply belongs to. */
export interface ChannelContext<C> {
  readonly address: ChannelAddress;
  /** The channel's `config`, parsed by the provider's own schema. */
  readonly config: C;
  readonly secrets: ChannelSecrets;
  readonly endpoints: ProviderEndpoints;
  readonly http: ProviderHttp;
}

/** A request refused; `code` is stable, the message says what was wrong (never a secret). */
export interface Refusal {
  readonly status: 400 | 401 | 403 | 503;
  readonly code: string;
  readonly message: string;
}

/** A verified request's proof, handed to normalise (a Bot Framework token's claims, say). */
export type Proof = Readonly<Record<string, unknown>>;

/** A message a verified webhook carried. */
export interface InboundMessage {
  /** The provider's id of this delivery: a redelivery carries the same one. */
  readonly eventId: string;
  readonly messageId: string;
  readonly userId: string;
  readonly userName?: string | undefined;
  readonly text: string;
  readonly attachments: readonly AttachmentRef[];
  /** Where replies go; checked again (replyToSchema) before anything is sent. */
  readonly replyTo: ReplyTo;
}

/** What a verified webhook amounts to. */
export type WebhookEvent =
  | { readonly kind: 'message'; readonly message: InboundMessage }
  /** A handshake the provider expects answered as is (Slack's url_verification). */
  | { readonly kind: 'handshake'; readonly body: Readonly<Record<string, string>> }
  /** Nothing to do (an edit, a bot's own message, another chat): answered 200 so it is not sent again. */
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'refused'; readonly refusal: Refusal };

/** One reply to send. */
export interface OutboundText {
  readonly text: string;
  readonly replyTo: ReplyTo;
  /** The deadline of one request. */
  readonly timeoutMs: number;
}

/** How a delivery went. A failure says whether a retry can help and whether the provider may have the message anyway. */
export type DeliveryResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** 429, 5xx, a connection that never opened: trying again later may work. */
      readonly retryable: boolean;
      /** The provider may have received it (a timeout after the request was sent): sending again could duplicate it. */
      readonly maySent: boolean;
      /** The provider asked to wait this long (Retry-After), for the whole channel. */
      readonly retryAfterMs?: number | undefined;
      readonly status?: number | undefined;
      readonly code: string;
      readonly message: string;
    };

/**
 * A messaging provider, implemented the same way by each (a folder under providers/): its
 * channel config schema, how a webhook is verified (before anything in it is parsed), how a
 * verified body becomes a message, and how a reply is delivered through its API.
 */
export interface ChannelProvider<C = unknown> {
  readonly name: WebhookProviderName;
  /** The channel's `config` (spec keys and the provider's own), strict. */
  readonly configSchema: z.ZodType<C>;
  /** Largest webhook body accepted (the raw bytes are what the proof covers). */
  readonly maxBodyBytes: number;
  /** Longest text one provider message takes; longer replies are sent in parts. */
  readonly maxTextChars: number;
  /** On the embedded bus a webhook is answered once its turn is done; past this it gets a 503 and the provider sends it again. */
  readonly ackWaitMs: number;
  /** Check the request's proof with the channel's credentials; null when it holds. Nothing of the body is parsed before. */
  verify(req: WebhookRequest, ctx: ChannelContext<C>): Promise<{ ok: true; proof: Proof } | { ok: false; refusal: Refusal }>;
  /** A verified body (parsed JSON) as one event. */
  normalise(body: unknown, proof: Proof, req: WebhookRequest, ctx: ChannelContext<C>): WebhookEvent;
  /** The shape a reply target must have before this provider sends to it. */
  readonly replyToSchema: z.ZodType<ReplyTo>;
  /** Send one text through the provider's API with the channel's token. */
  deliver(out: OutboundText, ctx: ChannelContext<C>): Promise<DeliveryResult>;
}

/** A refusal of a request whose proof is missing or wrong. */
export function unauthorized(code: string, message: string): { ok: false; refusal: Refusal } {
  return { ok: false, refusal: { status: 401, code, message } };
}

/** The channel cannot take webhooks yet (a credential is not set): the operator's to fix, logged with the details. */
export function notReady(message: string): { ok: false; refusal: Refusal } {
  return { ok: false, refusal: { status: 503, code: 'channel-not-ready', message } };
}

/** Read one header that must appear once; undefined when absent or repeated. */
export function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}
