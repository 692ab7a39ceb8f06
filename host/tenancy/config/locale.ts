import { z } from 'zod';

/** Longest time zone name and language tag accepted (the longest IANA zone is 32 characters). */
const MAX_TIMEZONE_LENGTH = 64;
const MAX_LANGUAGE_LENGTH = 64;

/**
 * The IANA zone `name` stands for, in its canonical spelling ("utc" -> "UTC"), or null. Offsets
 * such as "+01:00" are refused: newer engines accept them as zones, older ones do not, and a
 * tenant's config must mean the same on every Node the host runs on.
 */
export function canonicalTimezone(name: string): string | null {
  if (name.length === 0 || name.length > MAX_TIMEZONE_LENGTH || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name)) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** The canonical form of a BCP 47 language tag ("en-us" -> "en-US"), or null when it is not one. */
export function canonicalLanguage(tag: string): string | null {
  if (tag.length === 0 || tag.length > MAX_LANGUAGE_LENGTH) return null;
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? null;
  } catch {
    return null;
  }
}

/** settings.timezone: an IANA time zone, kept in its canonical spelling. */
export const TimezoneSchema = z.string().transform((value, ctx) => {
  const zone = canonicalTimezone(value);
  if (zone !== null) return zone;
  ctx.addIssue({ code: 'custom', message: `${quoted(value)} is not an IANA time zone (such as "America/New_York" or "UTC")` });
  return z.NEVER;
});

/** settings.language: a BCP 47 language tag, kept in its canonical form. */
export const LanguageSchema = z.string().transform((value, ctx) => {
  const tag = canonicalLanguage(value);
  if (tag !== null) return tag;
  ctx.addIssue({ code: 'custom', message: `${quoted(value)} is not a BCP 47 language tag (such as "en-US" or "de")` });
  return z.NEVER;
});

function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}
