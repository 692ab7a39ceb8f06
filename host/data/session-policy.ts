import type { Redaction, SessionsSettingsConfig } from '../tenancy/config/sessions-schema.js';

/** What a tenant environment keeps of its conversations, and for how long (settings.sessions, resolved). */
export interface SessionPolicy {
  /** Ms without a message after which a session ends; undefined: never. */
  readonly idleTtlMs: number | undefined;
  /** Ms after its creation at which a session ends; undefined: never. */
  readonly maxAgeMs: number | undefined;
  readonly transcript: 'none' | 'last_n' | 'full';
  /** Lines kept under `last_n`. */
  readonly transcriptLines: number;
  readonly redact: readonly Redaction[];
}

/** The most lines `full` keeps: a session record must stay under its size limit. */
export const FULL_TRANSCRIPT_LINES = 10_000;

export const DEFAULT_SESSION_POLICY: SessionPolicy = Object.freeze({
  idleTtlMs: undefined,
  maxAgeMs: undefined,
  transcript: 'last_n',
  transcriptLines: 50,
  redact: [],
});

/** Layer an environment's settings.sessions on its tenant's, key by key. */
export function resolveSessionPolicy(base: SessionPolicy, over: SessionsSettingsConfig | undefined): SessionPolicy {
  if (!over) return base;
  return {
    idleTtlMs: over.idle_ttl === undefined ? base.idleTtlMs : over.idle_ttl * 1000,
    maxAgeMs: over.max_age === undefined ? base.maxAgeMs : over.max_age * 1000,
    transcript: over.transcript ?? base.transcript,
    transcriptLines: over.transcript_lines ?? base.transcriptLines,
    redact: over.redact ? [...new Set(over.redact)] : base.redact,
  };
}

/** Why a stored session has ended at `now` ('idle' or 'max-age'), or null while it lives. */
export function expiryOf(policy: SessionPolicy, session: { readonly created_at: number; readonly updated_at: number }, now: number): 'idle' | 'max-age' | null {
  if (policy.maxAgeMs !== undefined && now - session.created_at >= policy.maxAgeMs) return 'max-age';
  if (policy.idleTtlMs !== undefined && now - session.updated_at >= policy.idleTtlMs) return 'idle';
  return null;
}

/** How many transcript lines the policy keeps (0: none). */
export function transcriptLinesKept(policy: SessionPolicy): number {
  return policy.transcript === 'none' ? 0 : policy.transcript === 'full' ? FULL_TRANSCRIPT_LINES : policy.transcriptLines;
}
