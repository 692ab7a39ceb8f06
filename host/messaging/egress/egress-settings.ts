import { z } from 'zod';

/**
 * How a tenant's replies go out to providers (settings.egress, tenant or environment level).
 * Rates are token buckets; the tenant's bucket is shared by all its channels, each channel
 * also has its own, and a message waits until both have a token.
 */
export const EgressSettingsSchema = z.strictObject({
  /** Messages a second the tenant sends to providers, over all its channels. */
  rate_per_sec: z.number().positive().max(100_000).optional(),
  burst: z.number().int().positive().max(100_000).optional(),
  /** Messages a second one channel sends. */
  channel_rate_per_sec: z.number().positive().max(100_000).optional(),
  channel_burst: z.number().int().positive().max(100_000).optional(),
  /** Deliveries of the tenant in flight at once (requests to providers). */
  concurrency: z.number().int().positive().max(256).optional(),
  /** Attempts at one message (the first included) before it becomes a dead letter. */
  max_attempts: z.number().int().positive().max(100).optional(),
  /** How long one request to a provider may take. */
  timeout_ms: z.number().int().min(100).max(120_000).optional(),
  /** Messages of the tenant waiting for delivery at once on this instance; past it they become dead letters (embedded) or wait in the stream (NATS). */
  max_queued: z.number().int().positive().max(1_000_000).optional(),
});
export type EgressSettingsConfig = z.infer<typeof EgressSettingsSchema>;
