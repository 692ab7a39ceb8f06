import { lookupOrder } from '../../stores/keys.js';
import type { SecretStore } from '../../stores/secret-store.js';
import type { ChannelAddress } from '../subjects.js';
import type { ChannelSecrets } from './provider.js';

/** How long a credential read from the store is reused (a webhook flood must not be a flood of decryptions). */
const CACHE_MS = 30_000;
/** Credentials cached at once; the oldest go first. */
const CACHE_ENTRIES = 10_000;

/**
 * A channel's credentials, read from its team's namespace, then its tenant's: never another
 * tenant's and never global/, so a request signed with another tenant's secret cannot verify.
 * Values are kept for CACHE_MS (a rotated secret takes effect within that) and never logged.
 */
export class ChannelCredentials {
  readonly #cache = new Map<string, { value: string | null; until: number }>();

  constructor(private readonly store: SecretStore) {}

  /** The secrets of the channel at `address`. */
  of(address: ChannelAddress): ChannelSecrets {
    return { get: (name) => this.#get(address, name) };
  }

  async #get(address: ChannelAddress, name: string): Promise<string | null> {
    const key = `${address.tenant}\n${address.team}\n${name}`;
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.value;
    let value: string | null = null;
    for (const ns of lookupOrder({ tenant: address.tenant, env: address.env, team: address.team }, false)) {
      value = await this.store.get(ns, name);
      if (value !== null) break;
    }
    this.#cache.delete(key);
    this.#cache.set(key, { value, until: now + CACHE_MS });
    if (this.#cache.size > CACHE_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    return value;
  }

  /** Forget what was read (a test that rotates a secret, or a 401 from the provider). */
  forget(address: ChannelAddress, name: string): void {
    this.#cache.delete(`${address.tenant}\n${address.team}\n${name}`);
  }
}

/** Where a missing credential should be set, for the operator's log line. */
export function whereToSet(address: ChannelAddress, name: string): string {
  return `secret "${name}" is not set in ${address.tenant}/teams/${address.team}/ or ${address.tenant}/ (greentic-host secrets set --tenant ${address.tenant} [--team ${address.team}] ${name})`;
}
