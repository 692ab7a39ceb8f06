import { randomBytes } from 'node:crypto';
import { createLogger, type Logger } from '../../dist/observability/logger.js';

/** Every marker the attack worlds plant: MARK_, what it is (one letter), the owner, 24 hex digits, `_`-separated (no tenant id has one). */
const MARKER = /MARK_([A-Z])_([a-z0-9-]+)_([0-9a-f]{24})/g;

/** A fresh marker of `what` (one capital letter; S and K are secrets) owned by `tenant`. */
export const newMarker = (tenant: string, what: string): string => `MARK_${what}_${tenant}_${randomBytes(12).toString('hex')}`;
/** Marker kinds that are secrets: they may appear in no log line at all, not even their own tenant's. */
const SECRET_KINDS = new Set(['S', 'K']);
/** Leaks kept in full for the report; the rest are counted. */
const KEPT = 20;

/**
 * Watches everything a tenant can see for another tenant's markers: answers and messages it
 * receives (`check`), and every log line attributed to it (the logger's lines, by `tenant_id`).
 * Scanning is one regular-expression pass per text, so a long run stays cheap and its memory flat.
 */
export class LeakWatch {
  readonly #owners = new Map<string, string>();
  readonly #credentials = new Map<string, string>();
  readonly leaks: string[] = [];
  leakCount = 0;
  checked = 0;
  /** Texts in which a viewer saw its own markers: proof that the scanned answers carry real data. */
  ownSeen = 0;
  logLines = 0;
  readonly logger: Logger;

  constructor() {
    this.logger = createLogger({
      level: 'debug',
      destination: { write: (line: string) => (this.#scanLogLine(line), true) } as unknown as NodeJS.WritableStream,
    });
  }

  /** Register `tenant`'s markers (whose shape the scan finds) and credentials (found by exact match). */
  own(tenant: string, markers: readonly string[], credentials: readonly string[] = []): void {
    for (const m of markers) this.#owners.set(m, tenant);
    for (const c of credentials) this.#credentials.set(c, tenant);
  }

  /** Record a leak if `text`, seen by `viewer` (null: anonymous), holds anything of another tenant. */
  check(viewer: string | null, text: string, where: string): void {
    this.checked++;
    let own = false;
    for (const m of text.matchAll(MARKER)) {
      const owner = this.#owners.get(m[0]);
      own ||= owner === viewer;
      if (owner !== undefined && owner !== viewer) this.#leak(`${where}: ${viewer ?? 'anonymous'} saw ${owner}'s marker ${m[0]}`);
    }
    if (own) this.ownSeen++;
    for (const [c, owner] of this.#credentials) {
      if (owner !== viewer && text.includes(c)) this.#leak(`${where}: ${viewer ?? 'anonymous'} saw ${owner}'s credential`);
    }
  }

  #scanLogLine(line: string): void {
    this.logLines++;
    let tenant: string | null = null;
    try {
      const parsed = JSON.parse(line) as { tenant_id?: unknown };
      tenant = typeof parsed.tenant_id === 'string' ? parsed.tenant_id : null;
    } catch {
      this.#leak(`a log line is not JSON: ${line.slice(0, 200)}`);
      return;
    }
    for (const m of line.matchAll(MARKER)) {
      if (SECRET_KINDS.has(m[1]!) && this.#owners.has(m[0])) this.#leak(`a log line holds the secret ${m[0]}: ${line.slice(0, 300)}`);
    }
    // A line without a tenant is the operator's; a tenant's line is what that tenant's operators see.
    if (tenant !== null) this.check(tenant, line, 'log line');
  }

  #leak(what: string): void {
    this.leakCount++;
    if (this.leaks.length < KEPT) this.leaks.push(what);
  }
}
