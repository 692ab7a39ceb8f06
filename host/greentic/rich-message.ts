/**
 * Rich messages in Greentic outputs (cards, buttons, attachments; Adaptive Cards in Greentic's
 * demos) as the structured message a reply carries next to its text. `text` is always set, so a
 * provider that renders text only shows the same content: a message without text gets one made
 * from its card (text blocks, facts) and buttons.
 *
 * The card is a subset of Adaptive Cards: TextBlock, Image and FactSet elements (Container and
 * ColumnSet are flattened into their items; other elements are left out) and Action.Submit and
 * Action.OpenUrl actions. URLs must be http or https.
 */

export interface RichButton {
  readonly title: string;
  /** What a click sends back as the user's next message. */
  readonly value?: string;
  readonly url?: string;
}

export type CardElement =
  | { readonly type: 'TextBlock'; readonly text: string; readonly size?: string; readonly weight?: string; readonly wrap?: boolean }
  | { readonly type: 'Image'; readonly url: string; readonly altText?: string }
  | { readonly type: 'FactSet'; readonly facts: ReadonlyArray<{ readonly title: string; readonly value: string }> };

export type CardAction =
  | { readonly type: 'Action.Submit'; readonly title: string; readonly data?: unknown }
  | { readonly type: 'Action.OpenUrl'; readonly title: string; readonly url: string };

export interface AdaptiveCard {
  readonly type: 'AdaptiveCard';
  readonly version: string;
  readonly body: readonly CardElement[];
  readonly actions: readonly CardAction[];
}

export interface RichAttachment {
  readonly url: string;
  readonly name?: string;
  readonly content_type?: string;
}

/** A structured reply: what a channel that renders more than text shows. */
export interface RichMessage {
  readonly text: string;
  readonly buttons?: readonly RichButton[];
  readonly card?: AdaptiveCard;
  readonly attachments?: readonly RichAttachment[];
}

/** Most buttons, card elements, card actions and attachments one message may carry. */
export const RICH_LIMITS = { buttons: 20, elements: 100, actions: 20, attachments: 10, facts: 50 } as const;

/** A rich part the host cannot use; the message names the field. */
export class RichMessageError extends Error {
  override readonly name = 'RichMessageError';
}

const ADAPTIVE = 'application/vnd.microsoft.card.adaptive';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Map);
const own = (m: Rec, k: string): unknown => (Object.hasOwn(m, k) ? m[k] : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * The message of one Greentic output map (`m.message` when it is a map, else `m.payload.message`,
 * else `m` itself), or undefined when it carries no card, buttons or attachments.
 */
export function richMessageOf(m: Rec): RichMessage | undefined {
  const inner = isRec(own(m, 'message'))
    ? (own(m, 'message') as Rec)
    : isRec(own(m, 'payload')) && isRec(own(own(m, 'payload') as Rec, 'message'))
      ? ((own(m, 'payload') as Rec).message as Rec)
      : m;
  const attachments: RichAttachment[] = [];
  let card = cardOf(own(inner, 'card') ?? own(inner, 'adaptive_card') ?? own(m, 'card') ?? own(m, 'adaptive_card'));
  const rawAttachments = own(inner, 'attachments') ?? (inner === m ? undefined : own(m, 'attachments'));
  if (Array.isArray(rawAttachments)) {
    if (rawAttachments.length > RICH_LIMITS.attachments + 1) throw new RichMessageError(`more than ${RICH_LIMITS.attachments} attachments`);
    for (const a of rawAttachments) {
      if (!isRec(a)) continue;
      const type = str(own(a, 'content_type')) ?? str(own(a, 'contentType')) ?? str(own(a, 'mime_type'));
      if (type === ADAPTIVE && card === undefined) {
        card = cardOf(own(a, 'content'));
        continue;
      }
      const url = str(own(a, 'url')) ?? str(own(a, 'content_url')) ?? str(own(a, 'contentUrl'));
      if (url === undefined) continue;
      attachments.push({ url: httpUrl(url, 'an attachment url'), name: str(own(a, 'name')), content_type: type });
    }
    if (attachments.length > RICH_LIMITS.attachments) throw new RichMessageError(`more than ${RICH_LIMITS.attachments} attachments`);
  }
  const buttons = buttonsOf(own(inner, 'buttons') ?? own(m, 'buttons'));
  if (card === undefined && buttons.length === 0 && attachments.length === 0) return undefined;
  const text = str(own(inner, 'text')) ?? str(own(m, 'text')) ?? fallbackText(card, buttons, attachments);
  return {
    text,
    ...(buttons.length > 0 ? { buttons } : {}),
    ...(card ? { card } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
  };
}

function buttonsOf(v: unknown): RichButton[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new RichMessageError('"buttons" is not a list');
  if (v.length > RICH_LIMITS.buttons) throw new RichMessageError(`more than ${RICH_LIMITS.buttons} buttons`);
  return v.map((b, i) => {
    if (typeof b === 'string') return { title: b, value: b };
    if (!isRec(b)) throw new RichMessageError(`buttons[${i}] is not a map or a text string`);
    const title = str(own(b, 'title')) ?? str(own(b, 'label')) ?? str(own(b, 'text'));
    if (title === undefined) throw new RichMessageError(`buttons[${i}] has no title`);
    const url = str(own(b, 'url'));
    const raw = own(b, 'value') ?? own(b, 'payload') ?? own(b, 'data');
    const value = raw === undefined ? (url ? undefined : title) : typeof raw === 'string' ? raw : JSON.stringify(raw);
    return { title, ...(value !== undefined ? { value } : {}), ...(url ? { url: httpUrl(url, `buttons[${i}].url`) } : {}) };
  });
}

function cardOf(v: unknown): AdaptiveCard | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRec(v)) throw new RichMessageError('the card is not a map');
  const body: CardElement[] = [];
  const pending = Array.isArray(own(v, 'body')) ? [...(own(v, 'body') as unknown[])].reverse() : [];
  while (pending.length > 0) {
    const e = pending.pop();
    if (!isRec(e)) continue;
    if (body.length >= RICH_LIMITS.elements) throw new RichMessageError(`the card has more than ${RICH_LIMITS.elements} elements`);
    const type = own(e, 'type');
    if (type === 'TextBlock' && typeof own(e, 'text') === 'string') {
      body.push({
        type,
        text: own(e, 'text') as string,
        size: str(own(e, 'size')),
        weight: str(own(e, 'weight')),
        wrap: own(e, 'wrap') === true ? true : undefined,
      });
    } else if (type === 'Image' && typeof own(e, 'url') === 'string') {
      body.push({ type, url: httpUrl(own(e, 'url') as string, 'a card image url'), altText: str(own(e, 'altText')) });
    } else if (type === 'FactSet' && Array.isArray(own(e, 'facts'))) {
      const facts = (own(e, 'facts') as unknown[]).filter(isRec).map((f) => ({ title: String(own(f, 'title') ?? ''), value: String(own(f, 'value') ?? '') }));
      if (facts.length > RICH_LIMITS.facts) throw new RichMessageError(`a FactSet has more than ${RICH_LIMITS.facts} facts`);
      body.push({ type, facts });
    } else if (type === 'Container' && Array.isArray(own(e, 'items'))) {
      pending.push(...[...(own(e, 'items') as unknown[])].reverse());
    } else if (type === 'ColumnSet' && Array.isArray(own(e, 'columns'))) {
      const items = (own(e, 'columns') as unknown[]).filter(isRec).flatMap((c) => (Array.isArray(own(c, 'items')) ? (own(c, 'items') as unknown[]) : []));
      if (items.length > RICH_LIMITS.elements) throw new RichMessageError(`the card has more than ${RICH_LIMITS.elements} elements`);
      pending.push(...items.reverse());
    }
  }
  const actions: CardAction[] = [];
  for (const a of Array.isArray(own(v, 'actions')) ? (own(v, 'actions') as unknown[]) : []) {
    if (!isRec(a)) continue;
    if (actions.length >= RICH_LIMITS.actions) throw new RichMessageError(`the card has more than ${RICH_LIMITS.actions} actions`);
    const title = str(own(a, 'title')) ?? '';
    if (own(a, 'type') === 'Action.OpenUrl' && typeof own(a, 'url') === 'string')
      actions.push({ type: 'Action.OpenUrl', title, url: httpUrl(own(a, 'url') as string, 'a card action url') });
    else if (own(a, 'type') === 'Action.Submit')
      actions.push({ type: 'Action.Submit', title, ...(own(a, 'data') !== undefined ? { data: own(a, 'data') } : {}) });
  }
  return { type: 'AdaptiveCard', version: str(own(v, 'version')) ?? '1.5', body, actions };
}

function httpUrl(u: string, what: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new RichMessageError(`${what} ${JSON.stringify(u.slice(0, 80))} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RichMessageError(`${what} must be http or https, not ${JSON.stringify(url.protocol)}`);
  return u;
}

/** The text a text-only channel shows for a card, buttons and attachments. */
export function fallbackText(card: AdaptiveCard | undefined, buttons: readonly RichButton[], attachments: readonly RichAttachment[]): string {
  const lines: string[] = [];
  for (const e of card?.body ?? []) {
    if (e.type === 'TextBlock') lines.push(e.text);
    else if (e.type === 'FactSet') for (const f of e.facts) lines.push(`${f.title}: ${f.value}`);
    else if (e.type === 'Image') lines.push(e.altText ? `[image: ${e.altText}]` : `[image] ${e.url}`);
  }
  const choices = [...buttons.map((b) => b.title), ...(card?.actions ?? []).map((a) => a.title)].filter((t) => t !== '');
  if (choices.length > 0) lines.push(choices.map((t) => `[${t}]`).join(' '));
  for (const a of attachments) lines.push(a.name ? `${a.name}: ${a.url}` : a.url);
  return lines.join('\n');
}
