import { GreenticHost, type HostOptions } from '../../dist/host.js';
import { converse, type ConversationReply } from '../../dist/messaging/conversation.js';
import type { ChannelAddress } from '../../dist/messaging/subjects.js';
import { EXAMPLES, tempDir } from './bundle.js';
import { memoryLogger } from './logs.js';

export const ACME_SLACK: ChannelAddress = { tenant: 'acme', env: 'prod', team: 'support', channel: 'slack' };
export const BIGCORP_WEBCHAT: ChannelAddress = { tenant: 'bigcorp', env: 'prod', team: 'helpdesk', channel: 'webchat' };

export interface TestHost {
  readonly host: GreenticHost;
  readonly dataDir: string;
  readonly logs: ReturnType<typeof memoryLogger>;
  say(address: ChannelAddress, user: string, text: string, extra?: { session?: string; id?: string }): Promise<ConversationReply>;
  close(): Promise<void>;
}

/** Start a real host (workers, stores, embedded bus) on a fresh data directory. */
export async function startHost(opts: Partial<HostOptions> = {}): Promise<TestHost> {
  const data = tempDir('greentic-data-');
  const logs = memoryLogger('debug');
  const host = await GreenticHost.start({ bundleDir: EXAMPLES, dataDir: data.dir, logger: logs.logger, workers: 2, ...opts });
  return {
    host,
    dataDir: data.dir,
    logs,
    say: (address, user, text, extra = {}) => converse(host.bus, address, { user, text, ...extra }, 20_000),
    close: async () => {
      await host.close();
      data.cleanup();
    },
  };
}

/** The replies of a successful answer; fails the test with the error otherwise. */
export function replies(r: ConversationReply): string[] {
  if (!r.ok) throw new Error(`turn failed: ${r.code}: ${r.message}`);
  return r.replies;
}
