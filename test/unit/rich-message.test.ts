// Greentic outputs that carry cards, buttons or attachments become a structured reply (`rich`)
// whose `text` is always set, so text-only providers show the same content.
import { describe, expect, it } from 'vitest';
import { nodeOutputFromValue } from '../../dist/greentic/output.js';
import { RICH_LIMITS, RichMessageError, richMessageOf } from '../../dist/greentic/rich-message.js';

/** An Adaptive Card as Greentic's demos send it, as an attachment of events2msg's message shape. */
const CARD = {
  type: 'AdaptiveCard',
  version: '1.5',
  body: [
    { type: 'TextBlock', text: 'Your order', weight: 'Bolder' },
    {
      type: 'Container',
      items: [
        { type: 'FactSet', facts: [{ title: 'Order', value: '42' }] },
        { type: 'Input.Text', id: 'dropped' },
      ],
    },
    { type: 'Image', url: 'https://example.com/a.png', altText: 'parcel' },
  ],
  actions: [
    { type: 'Action.Submit', title: 'Track', data: { op: 'track' } },
    { type: 'Action.OpenUrl', title: 'Open', url: 'https://example.com/o/42' },
  ],
};

describe('rich messages from Greentic outputs', () => {
  it('an Adaptive Card attachment: the supported subset, and a text made from it', () => {
    const r = richMessageOf({
      message: { type: 'message', text: null, attachments: [{ content_type: 'application/vnd.microsoft.card.adaptive', content: CARD }] },
    });
    expect(r).toEqual({
      text: 'Your order\nOrder: 42\n[image: parcel]\n[Track] [Open]',
      card: {
        type: 'AdaptiveCard',
        version: '1.5',
        body: [
          { type: 'TextBlock', text: 'Your order', weight: 'Bolder', size: undefined, wrap: undefined },
          { type: 'FactSet', facts: [{ title: 'Order', value: '42' }] },
          { type: 'Image', url: 'https://example.com/a.png', altText: 'parcel' },
        ],
        actions: [
          { type: 'Action.Submit', title: 'Track', data: { op: 'track' } },
          { type: 'Action.OpenUrl', title: 'Open', url: 'https://example.com/o/42' },
        ],
      },
    });
  });

  it('buttons and attachments next to a text; the text is kept as it is', () => {
    expect(
      richMessageOf({ text: 'Pick one', buttons: ['Yes', { title: 'No', value: { answer: 'no' } }, { label: 'Docs', url: 'https://example.com/docs' }] }),
    ).toEqual({
      text: 'Pick one',
      buttons: [
        { title: 'Yes', value: 'Yes' },
        { title: 'No', value: '{"answer":"no"}' },
        { title: 'Docs', url: 'https://example.com/docs' },
      ],
    });
    expect(richMessageOf({ text: 'plain' })).toBeUndefined();
  });

  it('refuses what a channel must not render: other URL schemes, and more parts than the limits', () => {
    expect(() => richMessageOf({ buttons: [{ title: 'x', url: 'javascript:alert(1)' }] })).toThrow(
      new RichMessageError('buttons[0].url must be http or https, not "javascript:"'),
    );
    expect(() => richMessageOf({ card: { body: [{ type: 'Image', url: 'file:///etc/passwd' }] } })).toThrow(
      new RichMessageError('a card image url must be http or https, not "file:"'),
    );
    expect(() => richMessageOf({ buttons: Array.from({ length: RICH_LIMITS.buttons + 1 }, (_, i) => `b${i}`) })).toThrow(
      new RichMessageError(`more than ${RICH_LIMITS.buttons} buttons`),
    );
    const deep = { type: 'Container', items: Array.from({ length: RICH_LIMITS.elements + 1 }, () => ({ type: 'TextBlock', text: 't' })) };
    expect(() => richMessageOf({ card: { body: [deep] } })).toThrow(new RichMessageError(`the card has more than ${RICH_LIMITS.elements} elements`));
  });

  it('a node output carries the structured reply next to its text', () => {
    const out = nodeOutputFromValue(true, { text: 'Pick one', buttons: ['Yes', 'No'] }, 'component "c" (op "o")');
    expect(out.replies).toEqual(['Pick one']);
    expect(out.rich).toEqual([
      {
        text: 'Pick one',
        buttons: [
          { title: 'Yes', value: 'Yes' },
          { title: 'No', value: 'No' },
        ],
      },
    ]);
    const card = nodeOutputFromValue(true, { card: CARD }, 'component "c" (op "o")');
    expect(card.replies).toEqual(['Your order\nOrder: 42\n[image: parcel]\n[Track] [Open]']);
  });
});
