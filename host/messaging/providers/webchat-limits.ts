import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { TokenBucket } from '../../sandbox/rate-limit.js';
import type { WebchatLimits } from '../../tenancy/model.js';
import type { ChannelAddress } from '../subjects.js';
import { RecencyList } from './recency-list.js';

/** The least a session is charged in stored bytes, so a ledger entry always costs its share of the cap. */
export const MIN_SESSION_BYTES = 256;

/** Why a webchat request is refused with 429, and when to try again. */
export interface WebchatRefusal {
  readonly code: 'rate-limited' | 'too-many-sessions' | 'storage-full';
  readonly message: string;
  readonly retryAfterSeconds: number;
}

/**
 * What a client address is limited by: an IPv4 address as it is, an IPv6 address by its /64
 * (what one subscriber is usually given, so rotating addresses inside it gains nothing).
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Token buckets by key, at most `max`: the least recently used is forgotten first, so an attacker's address count bounds nothing but itself. */
class BoundedBuckets {
  readonly #buckets = new RecencyList<TokenBucket>();

  get size(): number {
    return this.#buckets.size;
  }

  /** Take a token for `key`; 0 when taken, else milliseconds until one is available. */
  take(key: string, ratePerSec: number, burst: number, max: number, now: number): number {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(ratePerSec, burst, now);
      for (let old = this.#buckets.oldest(); old && this.#buckets.size >= max; old = this.#buckets.oldest()) this.#buckets.delete(old.key);
    }
    this.#buckets.touch(key, bucket);
    return bucket.take(now) ? 0 : bucket.waitMs(now);
  }
}

/** One tenant environment's webchat sessions: the live ones (least recently active first) and the bytes each stores. */
class SessionLedger {
  /** Session -> time of its last message, least recently active first. */
  readonly #live = new RecencyList<number>();
  readonly #stored = new Map<string, number>();
  #storedTotal = 0;

  /** Let `session` send a message, or say why not; `fresh`: it has no cookie yet. */
  admit(session: string, fresh: boolean, limits: WebchatLimits, now: number): WebchatRefusal | null {
    const idleMs = limits.sessionIdleSeconds * 1000;
    // Sessions idle past the window are no longer live; the list is in order of last activity.
    for (let old = this.#live.oldest(); old && now - old.value >= idleMs; old = this.#live.oldest()) this.#live.delete(old.key);
    if (fresh && this.#storedTotal + MIN_SESSION_BYTES > limits.maxStoredBytes) {
      return {
        code: 'storage-full',
        message: `this chat stores at most ${limits.maxStoredBytes} bytes of conversations; no new conversation can start now`,
        retryAfterSeconds: limits.sessionIdleSeconds,
      };
    }
    if (!this.#live.has(session) && this.#live.size >= limits.maxLiveSessions) {
      const oldest = this.#live.oldest()!.value;
      return {
        code: 'too-many-sessions',
        message: `this chat has ${limits.maxLiveSessions} conversations going on; try again later`,
        retryAfterSeconds: Math.max(1, Math.ceil((oldest + idleMs - now) / 1000)),
      };
    }
    this.#live.touch(session, now);
    if (fresh) this.stored(session, MIN_SESSION_BYTES);
    return null;
  }

  /** The bytes `session` stores now (its record as last written). */
  stored(session: string, bytes: number): void {
    const charged = Math.max(bytes, MIN_SESSION_BYTES);
    this.#storedTotal += charged - (this.#stored.get(session) ?? 0);
    this.#stored.set(session, charged);
  }

  forget(session: string): void {
    this.#storedTotal -= this.#stored.get(session) ?? 0;
    this.#stored.delete(session);
    this.#live.delete(session);
  }

  get liveSessions(): number {
    return this.#live.size;
  }

  get storedBytes(): number {
    return this.#storedTotal;
  }
}

/**
 * The bounds on anonymous webchat traffic: a token bucket per channel and per client address
 * (per tenant environment, at most max_tracked_addresses of them), and per tenant environment a
 * cap on live sessions and on the bytes its sessions store. Every structure is bounded by
 * config, never by what callers send.
 */
export class WebchatGuard {
  readonly #channels = new Map<string, TokenBucket>();
  readonly #addresses = new Map<string, BoundedBuckets>();
  readonly #ledgers = new Map<string, SessionLedger>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Admit one request of `client` to the configured channel `address` for `session` (fresh:
   * not stored yet), or say why not. Checks run cheapest first: address, channel, sessions.
   */
  admit(address: ChannelAddress, client: string, session: string, fresh: boolean, limits: WebchatLimits): WebchatRefusal | null {
    const now = this.now();
    const scope = `${address.tenant}/${address.env}`;
    let buckets = this.#addresses.get(scope);
    if (!buckets) this.#addresses.set(scope, (buckets = new BoundedBuckets()));
    const addressWait = buckets.take(clientKey(client), limits.addressRatePerSec, limits.addressBurst, limits.maxTrackedAddresses, now);
    if (addressWait > 0) return rateLimited('your address sends messages too fast', addressWait);
    const channelKey = `${scope}/${address.team}/${address.channel}`;
    let channel = this.#channels.get(channelKey);
    if (!channel) this.#channels.set(channelKey, (channel = new TokenBucket(limits.ratePerSec, limits.burst, now)));
    if (!channel.take(now)) return rateLimited('this chat is receiving too many messages', channel.waitMs(now));
    return this.#ledger(scope).admit(session, fresh, limits, now);
  }

  /** Count the bytes `session` of `address`'s tenant environment now stores. */
  stored(address: Pick<ChannelAddress, 'tenant' | 'env'>, session: string, bytes: number): void {
    this.#ledger(`${address.tenant}/${address.env}`).stored(session, bytes);
  }

  /** A session was deleted: it neither lives nor stores anything any more. */
  forget(address: Pick<ChannelAddress, 'tenant' | 'env'>, session: string): void {
    this.#ledgers.get(`${address.tenant}/${address.env}`)?.forget(session);
  }

  /** Live sessions, stored bytes and client addresses remembered for one tenant environment. */
  usage(address: Pick<ChannelAddress, 'tenant' | 'env'>): { liveSessions: number; storedBytes: number; trackedAddresses: number } {
    const scope = `${address.tenant}/${address.env}`;
    const l = this.#ledgers.get(scope);
    return { liveSessions: l?.liveSessions ?? 0, storedBytes: l?.storedBytes ?? 0, trackedAddresses: this.#addresses.get(scope)?.size ?? 0 };
  }

  #ledger(scope: string): SessionLedger {
    let l = this.#ledgers.get(scope);
    if (!l) this.#ledgers.set(scope, (l = new SessionLedger()));
    return l;
  }
}

function rateLimited(why: string, waitMs: number): WebchatRefusal {
  return { code: 'rate-limited', message: `${why}; slow down`, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}
