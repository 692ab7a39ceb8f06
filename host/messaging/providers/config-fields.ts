import { z } from 'zod';
import { checkId, InvalidIdError } from '../../tenancy/ids.js';

/**
 * Fields the providers' channel `config` schemas share. This module (and the providers'
 * config.ts files) import only zod and the id grammar, so the tenancy schema can look a
 * provider's schema up without pulling the providers themselves in.
 */

/** The name of a secret in the channel's team namespace, then its tenant's (never global/); `fallback` when omitted. */
export function secretName(fallback: string) {
  return z
    .string()
    .superRefine((value, ctx) => {
      try {
        checkId('secret', value, 'channel config');
      } catch (e) {
        if (!(e instanceof InvalidIdError)) throw e;
        ctx.addIssue({ code: 'custom', message: `invalid secret name ${JSON.stringify(value)}: ${e.reason}` });
      }
    })
    .default(fallback);
}

/** An id a provider assigns (Slack's T123456, C789012): upper-case letters and digits. */
export const slackIdSchema = (what: string) =>
  z.string().regex(/^[A-Z0-9]{1,32}$/, `expected a Slack ${what} id like "T123456" (upper-case letters and digits)`);
