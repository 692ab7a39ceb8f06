// The resolved egress limits, apart from their config schema (egress-settings.ts, zod): the
// tenancy model that every sandbox worker loads needs these, and no zod.
import type { EgressSettingsConfig } from './egress-settings.js';

/** The resolved egress settings of a tenant environment. */
export interface EgressLimits {
  readonly ratePerSec: number;
  readonly burst: number;
  readonly channelRatePerSec: number;
  readonly channelBurst: number;
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly maxQueued: number;
}

export const DEFAULT_EGRESS_LIMITS: EgressLimits = Object.freeze({
  ratePerSec: 20,
  burst: 40,
  channelRatePerSec: 5,
  channelBurst: 10,
  concurrency: 4,
  maxAttempts: 10,
  timeoutMs: 10_000,
  maxQueued: 10_000,
});

/** Layer `over` on `base`, key by key. */
export function resolveEgressLimits(base: EgressLimits, over: EgressSettingsConfig | undefined): EgressLimits {
  if (!over) return base;
  return {
    ratePerSec: over.rate_per_sec ?? base.ratePerSec,
    burst: over.burst ?? base.burst,
    channelRatePerSec: over.channel_rate_per_sec ?? base.channelRatePerSec,
    channelBurst: over.channel_burst ?? base.channelBurst,
    concurrency: over.concurrency ?? base.concurrency,
    maxAttempts: over.max_attempts ?? base.maxAttempts,
    timeoutMs: over.timeout_ms ?? base.timeoutMs,
    maxQueued: over.max_queued ?? base.maxQueued,
  };
}
