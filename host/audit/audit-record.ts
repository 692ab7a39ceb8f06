import { checkId, isValidId } from '../tenancy/ids.js';

/** What happened, as a stable name (the README's "Audit log" lists them). */
export type AuditAction =
  | 'secret.set'
  | 'secret.delete'
  | 'secret.read'
  | 'token.issue'
  | 'admin.action'
  | 'tenant.reload'
  | 'data.export'
  | 'data.erase'
  | 'access.denied'
  | 'audit.dropped';

/** How it ended. */
export type AuditOutcome = 'ok' | 'failed' | 'denied' | 'not-found' | 'dropped';

/** What a caller says happened; the trail stamps the time and bounds every field. */
export interface AuditInput {
  readonly tenant: string;
  readonly env?: string | undefined;
  readonly team?: string | undefined;
  /** Who: `api:{token subject}`, `cli`, `operator` (the admin API), `component:{name}`, `host`. */
  readonly actor: string;
  readonly action: AuditAction;
  /** What was acted on: `secret:{namespace}{name}`, `user:{id}`, `tenant:{id}`, `route:{method} {url}`. */
  readonly target: string;
  readonly outcome: AuditOutcome;
  /** A short reason (a denial's, a failure's): never a secret value or message text. */
  readonly detail?: string | undefined;
  /** Figures (sessions removed, records dropped), at most MAX_COUNTS of them. */
  readonly counts?: Readonly<Record<string, number>> | undefined;
}

/** One stored record: an NDJSON line on disk, a message body on NATS. */
export interface AuditRecord extends AuditInput {
  /** ISO 8601, UTC, milliseconds. */
  readonly time: string;
}

/** The largest record, encoded; every field is cut so a record never reaches it by construction. */
export const MAX_RECORD_BYTES = 4096;
const MAX_ACTOR = 120;
const MAX_TARGET = 200;
const MAX_DETAIL = 300;
const MAX_COUNTS = 8;

const ACTIONS: ReadonlySet<string> = new Set<AuditAction>([
  'secret.set',
  'secret.delete',
  'secret.read',
  'token.issue',
  'admin.action',
  'tenant.reload',
  'data.export',
  'data.erase',
  'access.denied',
  'audit.dropped',
]);
const OUTCOMES: ReadonlySet<string> = new Set<AuditOutcome>(['ok', 'failed', 'denied', 'not-found', 'dropped']);

/** A string cut at `max` characters, control characters replaced: a field fits and never breaks a log line. */
function bounded(v: unknown, max: number): string {
  const s = typeof v === 'string' ? v : String(v);
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

/**
 * A stored record from `input` at `now`: the tenant checked against the id grammar (it names a
 * file and a subject), env and team kept only when they are ids, the other fields cut.
 */
export function makeRecord(input: AuditInput, now: number): AuditRecord {
  const tenant = checkId('tenant', input.tenant, 'audit record');
  if (!ACTIONS.has(input.action)) throw new RangeError(`unknown audit action ${JSON.stringify(bounded(input.action, 40))}`);
  if (!OUTCOMES.has(input.outcome)) throw new RangeError(`unknown audit outcome ${JSON.stringify(bounded(input.outcome, 40))}`);
  const counts = input.counts ? boundedCounts(input.counts) : undefined;
  return {
    time: new Date(now).toISOString(),
    tenant,
    ...(isValidId(input.env) ? { env: input.env } : {}),
    ...(isValidId(input.team) ? { team: input.team } : {}),
    actor: bounded(input.actor, MAX_ACTOR),
    action: input.action,
    target: bounded(input.target, MAX_TARGET),
    outcome: input.outcome,
    ...(input.detail !== undefined ? { detail: bounded(input.detail, MAX_DETAIL) } : {}),
    ...(counts ? { counts } : {}),
  };
}

function boundedCounts(counts: Readonly<Record<string, number>>): Record<string, number> | undefined {
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  let n = 0;
  for (const [k, v] of Object.entries(counts)) {
    if (n >= MAX_COUNTS) break;
    if (typeof v !== 'number' || !Number.isFinite(v) || !/^[a-z][a-z0-9_]{0,31}$/.test(k)) continue;
    out[k] = v;
    n++;
  }
  return n === 0 ? undefined : { ...out };
}

/** The record as one NDJSON line (with its newline); at most MAX_RECORD_BYTES. */
export function encodeRecord(record: AuditRecord): Buffer {
  let line = Buffer.from(`${JSON.stringify(record)}\n`);
  // Only escaping can make a record this long (a detail of control or astral characters): cut the detail.
  if (line.length > MAX_RECORD_BYTES) line = Buffer.from(`${JSON.stringify({ ...record, detail: '(cut)' })}\n`);
  return line;
}

/** A stored line back to a record of `tenant`, or null when it is not one (a torn last line, another tenant's record). */
export function parseRecord(text: string, tenant: string): AuditRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const r = v as Record<string, unknown>;
  if (r.tenant !== tenant || typeof r.time !== 'string' || typeof r.action !== 'string' || !ACTIONS.has(r.action)) return null;
  if (typeof r.actor !== 'string' || typeof r.target !== 'string' || typeof r.outcome !== 'string' || !OUTCOMES.has(r.outcome)) return null;
  return r as unknown as AuditRecord;
}
