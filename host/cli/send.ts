import { resolve } from 'node:path';
import { GreenticHost } from '../host.js';
import { converse, newMessageId, ReplyTimeoutError, type ConversationReply } from '../messaging/conversation.js';
import { NatsConnectError } from '../messaging/nats/options.js';
import type { NatsBus } from '../messaging/nats/nats-bus.js';
import { natsUrlFlag } from './instance-config.js';
import { createLogger } from '../observability/logger.js';
import { ConfigError } from '../tenancy/config/problems.js';
import { findChannel } from '../tenancy/model.js';
import { HELP_FLAG, parsingFlags, CommandFailed, idFlag, intFlag, optionalIdFlag, required, UsageError, dataDirFlag, type CommandIo } from './usage.js';
import { parseArgs } from 'node:util';

export const SEND_HELP = `Usage: greentic-host send --bundle DIR --tenant T --env E --team TEAM --channel C --user U [options] TEXT

Send one message to a channel, as its provider would, and print the flow's replies.
Runs the host in-process on the embedded bus, so no server is needed; the session is kept
in the data directory, so the next send by the same user continues the conversation.
With --nats it publishes to the channel's ingress subject and waits on its egress subject.

Options:
  --bundle DIR     the bundle (workspace) directory            (required)
  --data DIR       where sessions and secrets live             (default: ./data)
  --tenant T --env E --team TEAM --channel C                    (required) the channel
  --user U         the user id on that channel                 (required)
  --session S      continue session S instead of the user's default one
  --nats URL       talk to the hosts serving this NATS server instead of running one
                   in-process (--bundle and --data are then not needed); credentials may be
                   in the URL (nats://user:password@host:4222)
  --inbox-prefix P with --nats: the reply-subject prefix the NATS user may subscribe to
                   (e.g. _INBOX_provider_acme in the example's nats-server.conf)
  --id ID          the message id (default: a new one); a retry of a send that timed out
                   with the same --id is handled once, not twice
  --json           print {"session", "replies"} as JSON
  --timeout MS     how long to wait for the answer             (default: 30000)
  -h, --help       this help

Exit codes: 0 answered, 1 the turn failed or the bundle is broken, 2 bad usage.`;

export async function sendCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsingFlags(() =>
    parseArgs({
      args: argv,
      options: {
        ...HELP_FLAG,
        bundle: { type: 'string' },
        nats: { type: 'string' },
        data: { type: 'string' },
        tenant: { type: 'string' },
        env: { type: 'string' },
        team: { type: 'string' },
        channel: { type: 'string' },
        user: { type: 'string' },
        session: { type: 'string' },
        id: { type: 'string' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        'inbox-prefix': { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    io.out(SEND_HELP);
    return 0;
  }
  const address = {
    tenant: idFlag('tenant', values.tenant, 'tenant'),
    env: idFlag('env', values.env, 'env'),
    team: idFlag('team', values.team, 'team'),
    channel: idFlag('channel', values.channel, 'channel'),
  };
  const user = idFlag('user', values.user, 'user');
  const session = optionalIdFlag('session', values.session, 'session');
  const timeout = intFlag(values.timeout, 'timeout', 1, 3_600_000) ?? 30_000;
  if (positionals.length !== 1)
    throw new UsageError(positionals.length === 0 ? 'missing the message TEXT' : `expected one TEXT argument, got ${positionals.length} (quote the message)`);
  const text = positionals[0]!;
  // The id goes with the message: the bus and the host drop a second copy of the same id.
  const id = optionalIdFlag('message', values.id, 'id') ?? newMessageId();
  const message = { id, user, text, ...(session ? { session } : {}) };
  const print = (answer: ConversationReply) => {
    if (!answer.ok) throw new CommandFailed(`${answer.code}: ${answer.message}`);
    if (values.json) io.out(JSON.stringify({ session: answer.session, replies: answer.replies }));
    else for (const r of answer.replies) io.out(r);
    return 0;
  };
  const logger = createLogger({ level: process.env.GREENTIC_LOG_LEVEL ?? 'warn' });

  if (values.nats !== undefined) {
    let bus: NatsBus;
    try {
      // Read only with --nats: a send on the embedded bus does without the NATS client libraries.
      const [{ NatsLinks }, { NatsBus }] = await Promise.all([import('../messaging/nats/links.js'), import('../messaging/nats/nats-bus.js')]);
      const inboxPrefix = values['inbox-prefix'];
      if (inboxPrefix !== undefined && !/^[A-Za-z0-9_]+$/.test(inboxPrefix))
        throw new UsageError(`--inbox-prefix must be letters, digits and _, got ${JSON.stringify(inboxPrefix)}`);
      const links = await NatsLinks.connect({ url: natsUrlFlag(values.nats), name: 'greentic-host send', connectWaitMs: 1, inboxPrefix }, logger);
      bus = await NatsBus.open(links, logger, { setup: false });
    } catch (e) {
      if (e instanceof NatsConnectError) throw new CommandFailed(e.message);
      throw e;
    }
    try {
      return print(await converse(bus, address, message, timeout));
    } catch (e) {
      if (e instanceof ReplyTimeoutError) {
        throw new CommandFailed(
          `${e.message}: is a host serving tenant "${address.tenant}" on this NATS server? The message (id ${id}) may still be handled; to retry without it being handled twice, add --id ${id}`,
        );
      }
      throw e;
    } finally {
      await bus.close();
    }
  }

  const bundle = resolve(required(values.bundle, 'bundle'));
  let host: GreenticHost;
  try {
    host = await GreenticHost.start({
      bundleDir: bundle,
      dataDir: dataDirFlag(values.data),
      tenants: [address.tenant],
      workers: 1,
      spare: false,
      logger,
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new CommandFailed(e.message);
    throw e;
  }
  try {
    const found = findChannel(host.workspace, address.tenant, address.env, address.team, address.channel);
    if (!found.ok) {
      const tenantProblems = host.problems.filter((p) => p.tenant === address.tenant);
      throw new CommandFailed(
        tenantProblems.length > 0
          ? `${found.reason}; the tenant's configuration has problems:\n${tenantProblems.map((p) => `  ${p.file}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n')}`
          : found.reason,
      );
    }
    return print(await converse(host.bus, address, message, timeout));
  } finally {
    await host.close();
  }
}
