// How to reach NATS and who to be there, with no NATS client library: an embedded host's start
// and the CLI's flags name these without loading @nats-io (about 100 ms of a start).
import { redactCredentials } from '../../observability/redact.js';

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

/** The stream cannot be created or found; says which and what to do. */
export class NatsSetupError extends Error {
  override readonly name = 'NatsSetupError';
}
