import { z } from 'zod';

/**
 * What the webchat page shows for one bot reply: text, and optionally buttons and a card. A
 * component sends one as a reply whose text is a JSON object with `"type": "webchat.message"`
 * (see the README); any other reply is plain text. The shape is deliberately small, a subset
 * of Adaptive Cards the page renders itself (as text nodes: nothing a component sends becomes
 * markup), and every count and length is bounded. A later issue maps Greentic outputs onto it.
 */
export interface WebchatMessage {
  readonly text: string;
  /** Choices; clicking one sends its `value` (or its title) as the user's next message. */
  readonly buttons?: ReadonlyArray<{ readonly title: string; readonly value?: string }>;
  readonly card?: WebchatCard;
}

/** The Adaptive Card subset: TextBlock and FactSet in the body, Action.Submit as its actions. */
export interface WebchatCard {
  readonly type: 'AdaptiveCard';
  readonly body: ReadonlyArray<
    | { readonly type: 'TextBlock'; readonly text: string; readonly weight?: 'default' | 'bolder'; readonly size?: 'default' | 'medium' | 'large' }
    | { readonly type: 'FactSet'; readonly facts: ReadonlyArray<{ readonly title: string; readonly value: string }> }
  >;
  readonly actions?: ReadonlyArray<{ readonly type: 'Action.Submit'; readonly title: string; readonly data?: string }>;
}

/** The marker a structured reply carries. */
export const WEBCHAT_MESSAGE_TYPE = 'webchat.message';

const short = z.string().min(1).max(200);
const long = z.string().max(4000);
const button = z.strictObject({ title: short, value: long.optional() });
const card = z.strictObject({
  type: z.literal('AdaptiveCard'),
  version: z.string().max(10).optional(),
  body: z
    .array(
      z.discriminatedUnion('type', [
        z.strictObject({
          type: z.literal('TextBlock'),
          text: long,
          weight: z.enum(['default', 'bolder']).optional(),
          size: z.enum(['default', 'medium', 'large']).optional(),
          wrap: z.boolean().optional(),
        }),
        z.strictObject({ type: z.literal('FactSet'), facts: z.array(z.strictObject({ title: short, value: long })).max(20) }),
      ]),
    )
    .max(20),
  actions: z
    .array(z.strictObject({ type: z.literal('Action.Submit'), title: short, data: long.optional() }))
    .max(10)
    .optional(),
});
const structured = z.strictObject({
  type: z.literal(WEBCHAT_MESSAGE_TYPE),
  text: long.optional(),
  buttons: z.array(button).max(10).optional(),
  card: card.optional(),
});

/**
 * The message a reply's text stands for: a valid structured reply as it is, anything else
 * (plain text, other JSON, a structured reply that breaks the bounds) as plain text.
 */
export function webchatMessage(reply: string): WebchatMessage {
  if (!reply.startsWith('{') || !reply.includes(WEBCHAT_MESSAGE_TYPE)) return { text: reply };
  let json: unknown;
  try {
    json = JSON.parse(reply);
  } catch {
    return { text: reply };
  }
  const r = structured.safeParse(json);
  // One that shows nothing is not one.
  if (!r.success || (!r.data.text && !r.data.buttons?.length && !r.data.card)) return { text: reply };
  const { text, buttons, card: c } = r.data;
  return {
    text: text ?? '',
    ...(buttons ? { buttons } : {}),
    ...(c ? { card: { type: 'AdaptiveCard', body: c.body, ...(c.actions ? { actions: c.actions } : {}) } } : {}),
  };
}
