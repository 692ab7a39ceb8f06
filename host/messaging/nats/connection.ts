import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../observability/logger.js';
import { redactCredentials } from '../../observability/redact.js';
import { count } from '../../util/count.js';
import { credentialsOf, NatsConnectError, type NatsCredentials, type NatsOptions } from './options.js';

// What a NATS connection is given, apart from the client library: modules that only name these
// (the host's start, the CLI's flags) need not load it.
export { credentialsOf, natsUser, NatsConnectError, type NatsCredentials, type NatsOptions } from './options.js';

/** Called before each retry at start, with a line that says what failed and when the next try is. */
export type ConnectRetryNotice = (line: string) => void;

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5000;

/**
 * Connect, and keep reconnecting forever once connected: a restart of nats-server is an outage
 * to ride out, not a reason to exit. At start an unreachable server is retried (see
 * `connectWaitMs`); refused credentials fail at once. Status changes are logged.
 */
export async function connectNats(opts: NatsOptions, logger: Logger, onRetry?: ConnectRetryNotice, given: NatsCredentials = opts): Promise<NatsConnection> {
  const where = redactCredentials(opts.url);
  const { server, creds } = credentialsOf(opts.url, given);
  const who = creds.user !== undefined ? ` as ${creds.user}` : '';
  const started = Date.now();
  let delay = FIRST_RETRY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const nc = await connect({
        servers: server,
        name: opts.name ?? 'greentic-host',
        user: creds.user,
        pass: creds.password,
        token: creds.token,
        inboxPrefix: creds.inboxPrefix,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: 5000,
        // Without it every request (each KV get and update, each JetStream publish) makes two Error
        // objects up front to carry its caller's stack into a later timeout: a third of the main
        // thread's busy time in the NATS throughput benchmark. Errors keep their type and message.
        noAsyncTraces: true,
      });
      watchStatus(nc, where, logger);
      return nc;
    } catch (e) {
      const reason = describeConnectFailure(e);
      if (!reason.retry) throw new NatsConnectError(`cannot connect to NATS at ${where}${who}: ${reason.text}`);
      const waited = Date.now() - started;
      const wait = opts.connectWaitMs ?? 0;
      if (wait > 0 && waited + delay > wait)
        throw new NatsConnectError(
          `cannot connect to NATS at ${where}${who}: ${reason.text} (gave up after ${count(attempt, 'attempt')}, waiting at most ${wait} ms)`,
        );
      const line = `NATS at ${where} is not reachable (attempt ${attempt}: ${reason.text}); retrying in ${(delay / 1000).toFixed(1)} s`;
      logger.warn({ event: 'nats-connect-retry', server: where, attempt, err: reason.text }, line);
      onRetry?.(line);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(MAX_RETRY_MS, delay * 2);
    }
  }
}

/** Why a first connection failed, and whether trying again can help. */
function describeConnectFailure(e: unknown): { text: string; retry: boolean } {
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } };
  const text = redactCredentials(err?.message ?? String(e));
  if (err?.name === 'AuthorizationError' || /authorization|authentication|user.*password|permissions/i.test(text)) {
    return { text: `the server refused the credentials (${text})`, retry: false };
  }
  if (/invalid url|url|parse/i.test(err?.name ?? '') && !/refused|timeout/i.test(text)) return { text, retry: false };
  return { text, retry: true };
}

function watchStatus(nc: NatsConnection, where: string, logger: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') logger.warn({ event: 'nats-disconnected', server: where }, 'lost the NATS connection; reconnecting');
      else if (s.type === 'reconnect') logger.info({ event: 'nats-reconnected', server: where }, 'reconnected to NATS');
      else if (s.type === 'error') logger.error({ event: 'nats-error', err: redactCredentials(String((s as { error?: unknown }).error)) }, 'NATS error');
    }
  })().catch(() => undefined);
}

/**
 * Check that JetStream answers on this connection; without it the host cannot keep a message
 * through a restart, so it refuses to start with one clear line instead of a stack.
 */
export async function checkJetStream(nc: NatsConnection, where: string): Promise<void> {
  try {
    await nc.request('$JS.API.INFO', undefined, { timeout: 5000 }).then((m) => {
      const body = m.json<{ error?: { code?: number; description?: string } }>();
      if (body.error) throw new Error(body.error.description ?? `JetStream error ${body.error.code}`);
    });
  } catch (e) {
    const text = redactCredentials((e as Error).message ?? String(e));
    // A user not allowed to ask (a channel provider) cannot check; its publishes will tell.
    if (/permissions violation/i.test(text)) return;
    const missing = /no responders|not enabled/i.test(text) || (e as { isNoResponders?: () => boolean }).isNoResponders?.() === true;
    throw new NatsConnectError(
      missing
        ? `NATS at ${redactCredentials(where)} has no JetStream (${text}): start nats-server with -js (and enable jetstream for the account), then start again`
        : `cannot reach JetStream on NATS at ${redactCredentials(where)}: ${text}`,
    );
  }
}
