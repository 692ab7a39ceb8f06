// branch: routes on a session state value. The first case whose `match` (a case-insensitive
// regular expression) matches the value names the route; else `default`, else the node's next.
import { get } from 'greentic:host/state@0.1.0';
import { write } from 'greentic:host/log@0.1.0';

export const node = {
  invoke(ctx, input) {
    const config = JSON.parse(input.config);
    const value = get(ctx, config.key) ?? '';
    for (const c of config.cases) {
      let re;
      try {
        re = new RegExp(c.match, 'i');
      } catch (e) {
        throw { code: 'invalid-config', message: `case ${JSON.stringify(c.match)} is not a valid regular expression`, retryable: false };
      }
      if (re.test(value)) {
        write(ctx, 'debug', `branch on ${config.key}: route ${c.route}`);
        return { replies: [], next: { tag: 'route', val: c.route } };
      }
    }
    write(ctx, 'debug', `branch on ${config.key}: no case matched`);
    if (config.default) return { replies: [], next: { tag: 'route', val: config.default } };
    return { replies: [], next: { tag: 'proceed' } };
  },
};
