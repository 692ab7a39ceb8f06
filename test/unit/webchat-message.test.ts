import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { webchatMessage } from '../../dist/messaging/providers/webchat-message.js';

const offer = {
  type: 'webchat.message',
  text: 'Pick one',
  buttons: [{ title: 'Yes', value: 'y' }, { title: 'No' }],
  card: {
    type: 'AdaptiveCard',
    version: '1.5',
    body: [
      { type: 'TextBlock', text: 'T', weight: 'bolder' },
      { type: 'FactSet', facts: [{ title: 'a', value: 'b' }] },
    ],
    actions: [{ type: 'Action.Submit', title: 'Go', data: 'go' }],
  },
};

describe('the structured webchat message', () => {
  it('is parsed from a reply that is one, with only the fields the page renders', () => {
    expect(webchatMessage(JSON.stringify(offer))).toEqual({
      text: 'Pick one',
      buttons: [{ title: 'Yes', value: 'y' }, { title: 'No' }],
      card: { type: 'AdaptiveCard', body: offer.card.body, actions: offer.card.actions },
    });
    expect(webchatMessage('{"type":"webchat.message","buttons":[{"title":"Only"}]}')).toEqual({ text: '', buttons: [{ title: 'Only' }] });
  });

  it('is plain text for anything else: other text, other JSON, unknown fields, past the limits', () => {
    const plain = [
      'hello',
      '{"type":"webchat.message"',
      '{"type":"webchat.messages","text":"x"}',
      '{"type":"webchat.message","text":"x","html":"<b>"}',
      JSON.stringify({ ...offer, buttons: Array.from({ length: 11 }, (_, i) => ({ title: `b${i}` })) }),
      JSON.stringify({ ...offer, card: { ...offer.card, body: [{ type: 'Image', url: 'https://x' }] } }),
      JSON.stringify({ type: 'webchat.message', buttons: [{ title: 'x'.repeat(201) }] }),
      '{"type":"webchat.message","__proto__":{"text":"x"}}',
      '{"type":"webchat.message"}',
      '{"type":"webchat.message","text":"","buttons":[]}',
    ];
    for (const text of plain) expect(webchatMessage(text), text).toEqual({ text });
  });

  it('never throws, and any reply is either its own text or a message within the bounds', () => {
    const anyJson = fc.jsonValue().map((v) => JSON.stringify(fc.sample(fc.constant({ type: 'webchat.message', extra: v }), 1)[0]));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), anyJson, fc.constant(JSON.stringify(offer))), (text) => {
        const m = webchatMessage(text);
        if (m.buttons === undefined && m.card === undefined && m.text === text) return;
        expect(m.buttons?.length ?? 0).toBeLessThanOrEqual(10);
        expect(m.card?.body.length ?? 0).toBeLessThanOrEqual(20);
        expect(m.text.length).toBeLessThanOrEqual(4000);
      }),
      { numRuns: 500 },
    );
  });
});
