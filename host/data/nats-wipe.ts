import type { NatsLinks } from '../messaging/nats/links.js';
import { deadLetterStream, egressStream, isNotFound, secretsBucket, sessionsBucket } from '../messaging/nats/resources.js';
import type { TenantWipe } from './tenant-data.js';

/**
 * What a whole-tenant erasure removes on NATS besides the stores' deletions: it purges the
 * tenant's own session and secret buckets (every revision), its dead letters and its egress
 * (replies kept for providers). The streams themselves stay, so running instances keep working.
 * A session's deletion already erases its one stored revision (nats-kv.ts), so nothing is left beside it.
 */
export class NatsTenantWipe implements TenantWipe {
  constructor(private readonly links: NatsLinks) {}

  async wipeTenant(tenant: string): Promise<void> {
    const { jsm } = this.links.forTenant(tenant);
    for (const stream of [`KV_${sessionsBucket(tenant)}`, `KV_${secretsBucket(tenant)}`, deadLetterStream(tenant), egressStream(tenant)]) {
      try {
        await jsm.streams.purge(stream);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
  }

  async wipeSessions(): Promise<void> {}
}
