import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../observability/logger.js';

/** How to reach NATS: a URL, and credentials if the server wants them. */
export interface NatsOptions {
  readonly url: string;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly token?: string | undefined;
  /** Shown in the server's connection list. */
  readonly name?: string | undefined;
  /**
   * Prefix of this connection's reply subjects (default _INBOX). Give each restricted user its
   * own, and allow it to subscribe only there, so no instance can read another's replies.
   */
  readonly inboxPrefix?: string | undefined;
}

/** NATS could not be reached or refused us; says where and why. */
export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
}

/**
 * Connect and keep reconnecting forever: a restart of nats-server is an outage to ride out,
 * not a reason to exit. Status changes are logged.
 */
export async function connectNats(opts: NatsOptions, logger: Logger): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.url,
      name: opts.name ?? 'greentic-host',
      user: opts.user,
      pass: opts.password,
      token: opts.token,
      inboxPrefix: opts.inboxPrefix,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5000,
    });
  } catch (e) {
    throw new NatsConnectError(`cannot connect to NATS at ${opts.url}: ${(e as Error).message}`);
  }
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') logger.warn({ event: 'nats-disconnected', server: opts.url }, 'lost the NATS connection; reconnecting');
      else if (s.type === 'reconnect') logger.info({ event: 'nats-reconnected', server: opts.url }, 'reconnected to NATS');
      else if (s.type === 'error') logger.error({ event: 'nats-error', err: String((s as { error?: unknown }).error) }, 'NATS error');
    }
  })();
  return nc;
}
