import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../../observability/logger.js';
import { checkId } from '../../tenancy/ids.js';
import { checkJetStream, connectNats, type ConnectRetryNotice, type NatsOptions } from './connection.js';

/** One connection with its JetStream handles. */
export interface NatsLink {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

/**
 * The host's NATS connections: a main one (global secrets, and every tenant without an account
 * of its own) and one per tenant that is a NATS account of its own. Everything a tenant does on
 * NATS goes through `forTenant`, so with accounts its requests, replies and resources stay in
 * its account: a reply subject or consumer can never deliver into another tenant's subjects.
 */
export class NatsLinks {
  readonly #tenants = new Map<string, NatsLink>();
  readonly #owned: NatsConnection[] = [];

  private constructor(
    readonly main: NatsLink,
    private readonly opts: NatsOptions | undefined,
    private readonly logger: Logger | undefined,
  ) {}

  /** Wrap a connection someone else opened and closes (tests, clients); every tenant uses it. */
  static async of(nc: NatsConnection): Promise<NatsLinks> {
    return new NatsLinks(await link(nc), undefined, undefined);
  }

  /** Connect the main connection (retrying at start, see NatsOptions.connectWaitMs) and check JetStream answers on it. */
  static async connect(opts: NatsOptions, logger: Logger, onRetry?: ConnectRetryNotice): Promise<NatsLinks> {
    const nc = await connectNats(opts, logger, onRetry);
    try {
      await checkJetStream(nc, opts.url);
      const links = new NatsLinks(await link(nc), opts, logger);
      links.#owned.push(nc);
      return links;
    } catch (e) {
      await nc.close().catch(() => undefined);
      throw e;
    }
  }

  /** Open the own-account connections of those `tenants` that have credentials of their own. */
  async connectTenants(tenants: Iterable<string>, onRetry?: ConnectRetryNotice): Promise<void> {
    const opts = this.opts;
    if (!opts?.tenants) return;
    const todo = [...tenants].filter((t) => opts.tenants!.has(t) && !this.#tenants.has(t));
    // A few at a time: hundreds of accounts connect in about a second, not one round trip after another.
    for (let i = 0; i < todo.length; i += 16) {
      await Promise.all(
        todo.slice(i, i + 16).map(async (tenant) => {
          const nc = await connectNats({ ...opts, name: `${opts.name ?? 'greentic-host'} (${tenant})` }, this.logger!, onRetry, opts.tenants!.get(tenant));
          this.#owned.push(nc);
          await checkJetStream(nc, `${opts.url} (account of tenant ${tenant})`);
          this.#tenants.set(tenant, await link(nc));
        }),
      );
    }
  }

  /** True when some tenants are NATS accounts of their own (then nothing of theirs is on the main connection). */
  get hasTenantAccounts(): boolean {
    return (this.opts?.tenants?.size ?? 0) > 0;
  }

  /** The connection a tenant's messages, sessions and secrets go through. */
  forTenant(tenant: string): NatsLink {
    return this.#tenants.get(checkId('tenant', tenant, 'NATS connection')) ?? this.main;
  }

  /** Close the connections this object opened (draining what is in flight). */
  async close(): Promise<void> {
    await Promise.all(this.#owned.splice(0).map((nc) => nc.drain().catch(() => nc.close().catch(() => undefined))));
  }
}

async function link(nc: NatsConnection): Promise<NatsLink> {
  // checkAPI false: no $JS.API.INFO on every handle (JetStream was checked once at connect).
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc, { checkAPI: false }) };
}
