import type { Redaction } from '../tenancy/config/sessions-schema.js';

/**
 * The built-in redaction patterns. Quantifiers are bounded so a match costs linear time on the
 * bounded lines it sees (a tenant's text runs on the main thread every tenant shares).
 */
const EMAIL = /[\p{L}\p{N}._%+-]{1,64}@[\p{L}\p{N}-]{1,63}(?:\.[\p{L}\p{N}-]{1,63}){1,8}/gu;
/** 13 to 19 digits, optionally grouped by single spaces or dashes; replaced only when the Luhn check passes. */
const CARD = /(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])/g;

/** Replace what `patterns` name in `text` with [email] / [card_number]. */
export function redact(text: string, patterns: readonly Redaction[]): string {
  let out = text;
  for (const p of patterns) {
    if (p === 'email') out = out.replace(EMAIL, '[email]');
    else out = out.replace(CARD, (m) => (luhn(m.replace(/[ -]/g, '')) ? '[card_number]' : m));
  }
  return out;
}

/** The Luhn checksum every payment card number passes. */
function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}
