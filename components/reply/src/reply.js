// reply: sends config.message to the user, with {{key}} placeholders filled from the
// session's working memory. Uses the state (read) and messaging capabilities.
import { get } from 'greentic:host/state@0.1.0';
import { send } from 'greentic:host/messaging@0.1.0';

const PLACEHOLDER = /\{\{\s*([a-z0-9][a-z0-9_-]*)\s*\}\}/g;

export const node = {
  invoke(ctx, input) {
    const config = JSON.parse(input.config);
    // Each placeholder is one state read through the host; a missing key becomes "".
    const text = config.message.replace(PLACEHOLDER, (_, key) => get(ctx, key) ?? '');
    send(ctx, input.message.channel, text);
    return { replies: [], next: { tag: config.end ? 'end' : 'proceed' } };
  },
};
