import type { NatsLinks } from '../messaging/nats/links.js';
import { makeRecord, type AuditInput } from './audit-record.js';
import { FileAuditStore } from './file-audit-store.js';

/**
 * Record what a command did in the tenant's audit log (the data directory's files, or the
 * tenant's stream with --nats), waiting until it is written. The command's work is already done:
 * a record that cannot be written is one warning on stderr, not a failed command.
 */
export async function recordCommand(where: { dataDir: string; links: NatsLinks | undefined }, input: AuditInput, warn: (line: string) => void): Promise<void> {
  // The NATS store (and its client libraries) is read only when the command went to NATS.
  const store = where.links ? new (await import('./nats-audit-store.js')).NatsAuditStore(where.links) : new FileAuditStore(where.dataDir);
  try {
    await store.append(input.tenant, [makeRecord(input, Date.now())]);
  } catch (e) {
    warn(`warning: the audit record of this ${input.action} could not be written: ${(e as Error).message}`);
  }
}
