// ask: asks a question (optional), waits for the user's next message, and saves it in the
// session's working memory under config.save_as. Uses state (write) and messaging.
import { set } from 'greentic:host/state@0.1.0';
import { send } from 'greentic:host/messaging@0.1.0';

export const node = {
  invoke(ctx, input) {
    const config = JSON.parse(input.config);
    const channel = input.message.channel;
    if (!input.resumed) {
      if (config.question) send(ctx, channel, config.question);
      return { replies: [], next: { tag: 'wait' } };
    }
    const answer = input.message.text.trim();
    if (answer.length === 0 && config.reprompt) {
      send(ctx, channel, config.reprompt);
      return { replies: [], next: { tag: 'wait' } };
    }
    set(ctx, config.save_as, answer);
    return { replies: [], next: { tag: 'proceed' } };
  },
};
