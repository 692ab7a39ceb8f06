import { z } from 'zod';

/** Redaction patterns a tenant may name; built in (no tenant-written regex runs on the main thread, which serves every tenant). */
export const REDACTIONS = ['email', 'card_number'] as const;
export type Redaction = (typeof REDACTIONS)[number];

const UNIT = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const MAX_SECONDS = 3650 * 86400;

/** A duration: seconds as a number, or a string like "90s", "30m", "12h", "7d"; at most 3650 days. */
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = typeof v === 'string' ? /^([1-9][0-9]{0,6})([smhd])$/.exec(v) : null;
  const seconds = typeof v === 'number' ? v : m ? Number(m[1]) * UNIT[m[2] as keyof typeof UNIT] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_SECONDS) {
    ctx.addIssue({ code: 'custom', message: 'expected seconds (1 to 315360000), or a number followed by s, m, h or d ("30m")' });
    return z.NEVER;
  }
  return seconds;
});

/** settings.sessions: how long a conversation lives, and what of it is kept. */
export const SessionsSettingsSchema = z.strictObject({
  /** A session with no message for this long ends; its next message starts a new conversation. */
  idle_ttl: duration.optional(),
  /** A session older than this ends, however busy. */
  max_age: duration.optional(),
  /** What of the conversation a session keeps: nothing, its last `transcript_lines` lines, or all of it (up to 10000 lines). */
  transcript: z.enum(['none', 'last_n', 'full']).optional(),
  transcript_lines: z.number().int().positive().max(10_000).optional(),
  /** Patterns replaced by [email] / [card_number] before a line is stored or logged. */
  redact: z.array(z.enum(REDACTIONS)).max(REDACTIONS.length).optional(),
});
export type SessionsSettingsConfig = z.infer<typeof SessionsSettingsSchema>;
