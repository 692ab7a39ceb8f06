import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../observability/logger.js';
import { redactCredentials } from '../../observability/redact.js';
import { count } from '../../util/count.js';

/** Who to be on a NATS server: user and password, or a token; and the reply-subject prefix. */
export interface NatsCredentials {
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly token?: string | undefined;
  /**
   * Prefix of this connection's reply subjects (default _INBOX). Give each restricted user its
   * own, and allow it to subscribe only there, so no instance can read another's replies.
   */
  readonly inboxPrefix?: string | undefined;
}

/** How to reach NATS: a URL, and credentials if the server wants them. */
export interface NatsOptions extends NatsCredentials {
  readonly url: string;
  /** Shown in the server's connection list. */
  readonly name?: string | undefined;
  /**
   * Tenants that are NATS accounts of their own: each is reached through a connection with its
   * own credentials, so its JetStream resources live in its account. Tenants not listed use
   * the main connection.
   */
  readonly tenants?: ReadonlyMap<string, NatsCredentials> | undefined;
  /**
   * How long to keep trying to reach NATS at start, in ms: 0 (the default) waits as long as it
   * takes, with one line per failed attempt; a server that refuses the credentials is not retried.
   */
  readonly connectWaitMs?: number | undefined;
}

/** NATS could not be reached, refused us, or has no JetStream; says where and why (credentials redacted). */
export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
  constructor(message: string) {
    super(redactCredentials(message));
  }
}

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

/**
 * The server address without userinfo, and the credentials to use: those given, else the URL's
 * (nats://user:password@host, nats://token@host; the client library ignores userinfo).
 */
export function credentialsOf(url: string, given: NatsCredentials): { server: string; creds: NatsCredentials } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^\s/@?#]*)@(.*)$/i.exec(url);
  if (!m) return { server: url, creds: given };
  const [, scheme, info, rest] = m as unknown as [string, string, string, string];
  const server = `${scheme}${rest}`;
  if (given.user !== undefined || given.token !== undefined) return { server, creds: given };
  const colon = info.indexOf(':');
  const dec = (v: string) => {
    try {
      return decodeURIComponent(v);
    } catch {
      return v;
    }
  };
  const fromUrl = colon < 0 ? { token: dec(info) } : { user: dec(info.slice(0, colon)), password: dec(info.slice(colon + 1)) };
  return { server, creds: { ...given, ...fromUrl } };
}

/** The user a connection logs in as, for messages ("NATS user X may not ..."). */
export function natsUser(opts: NatsOptions | undefined): string | undefined {
  const user = opts && credentialsOf(opts.url, opts).creds.user;
  return user === undefined ? undefined : `NATS user ${user}`;
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
