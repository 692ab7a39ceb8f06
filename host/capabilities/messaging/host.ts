import { idArgument, stringArgument } from '../arguments.js';
import type { InvocationScope } from '../scope.js';

/**
 * The `messaging` import slice: queue a message for the session's user on a channel of the
 * bound tenant and team. Messages are published to the channel's egress subject when the
 * turn commits, never before, so a failed turn sends nothing.
 *
 * Guest errors: access-denied (ctx differs; manifest lacks messaging; the channel is not one
 * of the bound team's), invalid-argument (channel not an id), limit-exceeded (output budget).
 */
export function messagingImports(scope: InvocationScope) {
  return {
    send(ctx: unknown, channel: unknown, text: unknown): void {
      scope.enter('messaging', 'send', ctx);
      if (!scope.permissions.messaging) {
        scope.deny('messaging', 'send', `component "${scope.permissions.component}" may not send messages (manifest capabilities.messaging is false)`);
      }
      const ch = idArgument(scope, 'messaging', 'send', 'channel', channel);
      const t = stringArgument(scope, 'messaging', 'send', 'text', text);
      if (!scope.teamChannels.has(ch)) {
        scope.deny('messaging', 'send', `channel "${ch}" is not a channel of team ${scope.ctx.tenantId}/${scope.ctx.teamId ?? '-'} in ${scope.ctx.envId}`);
      }
      scope.chargeOutput('messaging', 'send', Buffer.byteLength(t));
      scope.turn.outbox.push({ channel: ch, text: t });
    },
  };
}
