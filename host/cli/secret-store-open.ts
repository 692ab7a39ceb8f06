import { join } from 'node:path';
import type { NatsLinks } from '../messaging/nats/links.js';
import { NatsConnectError, NatsSetupError } from '../messaging/nats/options.js';
import { createLogger } from '../observability/logger.js';
import { loadMasterKey } from '../stores/master-key.js';
import { FileSecretStore, type SecretStore } from '../stores/secret-store.js';
import { natsUrlFlag } from './instance-config.js';
import { CommandFailed } from './usage.js';

/** A command's secret store, checked against the master key, and how to let it go. */
export interface OpenedSecrets {
  readonly store: SecretStore;
  readonly masterKey: Buffer;
  /** Set with --nats: the connections, for commands that reach further (rotate-key). */
  readonly links: NatsLinks | undefined;
  close(): Promise<void>;
}

export interface SecretStoreFlags {
  /** --data, resolved. */
  readonly dataDir: string;
  /** --nats, as given. */
  readonly nats: string | undefined;
  /** The NATS client name, e.g. "greentic-host secrets". */
  readonly client: string;
  /** Tenants whose buckets the command uses (their key id is checked). */
  readonly tenants: readonly string[];
  /** Whether the command uses the global namespace (its bucket's key id is checked too). */
  readonly global: boolean;
  /** Create the buckets of `tenants` (and the global one) when missing: for commands that write. */
  readonly setUp?: 'global' | 'tenants';
}

/**
 * The secrets of `--data` (files) or `--nats` (KV), under the master key: a key other than the
 * one the secrets are sealed with stops the command here, with a message naming both key ids.
 */
export async function openSecretStore(flags: SecretStoreFlags): Promise<OpenedSecrets> {
  const masterKey = await loadMasterKey(join(flags.dataDir, 'master.key'));
  if (flags.nats === undefined) {
    const store = new FileSecretStore(flags.dataDir, masterKey);
    await store.checkMasterKey();
    return { store, masterKey, links: undefined, close: async () => {} };
  }
  // The NATS client libraries are read only with --nats: a command on the data directory does without them.
  const [{ NatsLinks }, { ensureStreams, globalStreams, tenantStreams }, { NatsSecretStore }] = await Promise.all([
    import('../messaging/nats/links.js'),
    import('../messaging/nats/resources.js'),
    import('../stores/nats-secret-store.js'),
  ]);
  let links: NatsLinks | undefined;
  try {
    links = await NatsLinks.connect({ url: natsUrlFlag(flags.nats), name: flags.client, connectWaitMs: 1 }, createLogger({ level: 'warn' }));
    // The namespace's bucket is made if missing (by a user that may; a confined one gets a clear error).
    if (flags.setUp === 'global') await ensureStreams(links.main.jsm, globalStreams(), 'this NATS user');
    if (flags.setUp === 'tenants') for (const t of flags.tenants) await ensureStreams(links.main.jsm, tenantStreams(t), 'this NATS user');
    const store = await NatsSecretStore.open(links, masterKey);
    await store.checkMasterKey(flags.tenants, flags.global);
    const opened = links;
    return { store, masterKey, links, close: () => opened.close() };
  } catch (e) {
    await links?.close();
    if (e instanceof NatsConnectError || e instanceof NatsSetupError) throw new CommandFailed(e.message);
    throw e;
  }
}
