import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isValidId } from '../../tenancy/ids.js';
import type { ChannelAddress } from '../subjects.js';

/** The cookie holding a webchat session; its Path confines it to one channel's URLs. */
export const WEBCHAT_COOKIE = 'greentic_webchat';

/** The URL path of a webchat channel. */
export function webchatPath(a: ChannelAddress): string {
  return `/webchat/${a.tenant}/${a.env}/${a.team}/${a.channel}`;
}

/**
 * Session cookies bound to one channel: `v1.<session>.<mac>`, where the MAC covers the
 * channel's full address and the session id. A cookie minted for one channel fails the check
 * on every other channel, of this tenant or another.
 */
export class WebchatCookies {
  constructor(private readonly key: Buffer) {}

  /** A new session id for a browser: 'w' + 32 hex digits. */
  newSession(): string {
    return `w${randomBytes(16).toString('hex')}`;
  }

  mint(a: ChannelAddress, session: string): string {
    return `v1.${session}.${this.#mac(a, session)}`;
  }

  /** The session a cookie names if it was minted for this channel; null otherwise. */
  verify(a: ChannelAddress, cookie: string): string | null {
    const parts = cookie.split('.');
    if (parts.length !== 3 || parts[0] !== 'v1' || !isValidId(parts[1])) return null;
    const want = Buffer.from(this.#mac(a, parts[1]!));
    const got = Buffer.from(parts[2]!);
    return got.length === want.length && timingSafeEqual(got, want) ? parts[1]! : null;
  }

  #mac(a: ChannelAddress, session: string): string {
    return createHmac('sha256', this.key).update(`${a.tenant}\n${a.env}\n${a.team}\n${a.channel}\n${session}`).digest('base64url');
  }
}

/** Read one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
