import type { NatsLinks } from '../messaging/nats/links.js';
import { makeRecord, type AuditInput } from './audit-record.js';
import { FileAuditStore } from './file-audit-store.js';
import { NatsAuditStore } from './nats-audit-store.js';

/**
 * Record what a command did in the tenant's audit log (the data directory's files, or the
 * tenant's stream with --nats), waiting until it is written. The command's work is already done:
 * a record that cannot be written is one warning on stderr, not a failed command.
 */
export async function recordCommand(where: { dataDir: string; links: NatsLinks | undefined }, input: AuditInput, warn: (line: string) => void): Promise<void> {
  const store = where.links ? new NatsAuditStore(where.links) : new FileAuditStore(where.dataDir);
  try {
    await store.append(input.tenant, [makeRecord(input, Date.now())]);
  } catch (e) {
    warn(`warning: the audit record of this ${input.action} could not be written: ${(e as Error).message}`);
  }
}
