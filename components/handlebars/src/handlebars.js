// handlebars: renders config.template with Handlebars and sends the text to the user.
// The template sees `in` (the user's message: text, user, channel), `parameters` (the flow's)
// and `state` (the session keys config.state lists, read through the host). Only Handlebars'
// built-in helpers exist, its prototype-access guards stay on, and it runs in this sandbox.
import Handlebars from 'handlebars/dist/cjs/handlebars.js';
import { get } from 'greentic:host/state@0.1.0';
import { send } from 'greentic:host/messaging@0.1.0';

const hbs = Handlebars.create();
hbs.unregisterHelper('log');
const compiled = new Map();
const MAX_COMPILED = 64;

function templateOf(text) {
  let t = compiled.get(text);
  if (!t) {
    t = hbs.compile(text, { noEscape: true, knownHelpersOnly: true });
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value);
    compiled.set(text, t);
  }
  return t;
}

export const node = {
  invoke(ctx, input) {
    const config = JSON.parse(input.config);
    const state = {};
    for (const key of config.state ?? []) state[key] = get(ctx, key) ?? '';
    const view = { in: { text: input.message.text, user: input.message.userId, channel: input.message.channel }, parameters: config.parameters ?? {}, state };
    const text = templateOf(config.template)(view, { allowProtoPropertiesByDefault: false, allowProtoMethodsByDefault: false });
    send(ctx, input.message.channel, text);
    return { replies: [], next: { tag: config.end ? 'end' : 'proceed' } };
  },
};
