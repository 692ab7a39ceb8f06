import type { Logger } from '../../observability/logger.js';
import type { DeadLetterStore } from '../../stores/dead-letters.js';
import type { ChannelModel } from '../../tenancy/model.js';
import type { ChannelMetrics } from '../channel-metrics.js';
import type { ChannelProvider, DeliveryResult } from '../providers/provider.js';
import type { ChannelProviders } from '../providers/registry.js';
import type { ChannelAddress } from '../subjects.js';
import { DeliveryTakenOver, retryDelayMs, splitText, type DeliveryRecord, type PendingDelivery } from './delivery.js';
import type { EgressLimits } from './egress-limits.js';
import type { JobStep } from './scheduler.js';

/** The channel a reply is for, as the host's configuration has it. */
export type DeliveryTarget =
  | { readonly ok: true; readonly provider: ChannelProvider<unknown>; readonly channel: ChannelModel; readonly limits: EgressLimits }
  | { readonly ok: false; readonly reason: string };

export interface DelivererDeps {
  readonly target: (address: ChannelAddress) => DeliveryTarget;
  readonly providers: ChannelProviders;
  readonly deadLetters: DeadLetterStore;
  readonly logger: Logger;
  readonly metrics: ChannelMetrics;
}

/** How long a reply whose dead letter cannot be recorded waits before trying again (it is never dropped). */
const DEAD_LETTER_RETRY_MS = 10_000;

/**
 * Delivers one reply: each request is preceded by an in-flight record and followed by the
 * outcome, so that whatever happens to this instance the reply is sent at most once. Retryable
 * failures (429, 5xx, a provider that cannot be reached) come back with a backoff; the rest, and
 * the last allowed attempt, end as a dead letter of the tenant. Every failure is logged with the
 * tenant's fields and counted in its metrics.
 */
export class Deliverer {
  constructor(private readonly deps: DelivererDeps) {}

  /** One attempt at `d` (all its remaining parts); what to do next. */
  async attempt(d: PendingDelivery): Promise<JobStep> {
    const target = this.deps.target(d.address);
    if (!target.ok) return this.deadLetter(d, target.reason, 'no-channel');
    const { provider, channel, limits } = target;
    const labels = { ...d.address, provider: provider.name };
    const ctx = this.deps.providers.context(provider, channel, d.address);
    const parts = splitText(d.reply.text, provider.maxTextChars);
    for (let part = d.record.part; part < parts.length; part++) {
      const attempts = d.record.attempts + 1;
      try {
        await this.#save(d, { ...d.record, state: 'in-flight', attempts, part });
      } catch (e) {
        if (e instanceof DeliveryTakenOver) return { done: true };
        // The record cannot be written (the store is away): nothing was sent, try later.
        this.#log(d, 'warn', 'egress-record-failed', `the delivery record cannot be written: ${(e as Error).message}`);
        return { done: false, retryInMs: retryDelayMs(attempts, undefined) };
      }
      let result: DeliveryResult;
      try {
        result = await provider.deliver({ text: parts[part]!, replyTo: d.reply.reply_to, timeoutMs: limits.timeoutMs }, ctx);
      } catch (e) {
        result = { ok: false, retryable: false, maySent: true, code: 'internal', message: `delivery failed: ${(e as Error).message}` };
      }
      this.deps.metrics.attempts.inc({ ...labels, result: result.ok ? 'ok' : result.code.slice(0, 40) });
      if (result.ok) {
        const next: DeliveryRecord =
          part + 1 < parts.length ? { ...d.record, state: 'queued', part: part + 1 } : { ...d.record, state: 'sent', part: part + 1 };
        try {
          await this.#save(d, next);
        } catch (e) {
          // Sent, but not recorded as sent: left in-flight, the reply is never sent again (at most once).
          if (!(e instanceof DeliveryTakenOver))
            this.#log(d, 'warn', 'egress-record-failed', `delivered, but the record cannot be written: ${(e as Error).message}`);
        }
        continue;
      }
      const retryIn = retryDelayMs(attempts, result.retryAfterMs);
      const last = attempts >= limits.maxAttempts;
      const detail = `${provider.name}: ${result.message} (${result.code}${result.status ? `, HTTP ${result.status}` : ''}; attempt ${attempts} of ${limits.maxAttempts})`;
      if (result.maySent) return this.deadLetter(d, `${detail}; not sent again, since the provider cannot recognise a message sent twice`, result.code);
      if (!result.retryable || last) return this.deadLetter(d, detail, result.code);
      this.#log(d, 'warn', 'egress-retry', detail, { retry_in_ms: retryIn });
      try {
        await this.#save(d, { ...d.record, state: 'retrying', lastError: detail.slice(0, 2000) });
      } catch (e) {
        if (e instanceof DeliveryTakenOver) return { done: true };
        // Still in-flight on record: a crash now makes it a dead letter rather than a duplicate. Retry as planned.
      }
      return { done: false, retryInMs: retryIn, pauseChannelMs: result.retryAfterMs };
    }
    await d.handle.finish();
    this.deps.metrics.deliveries.inc({ ...labels, outcome: 'delivered' });
    this.deps.metrics.deliverySeconds.observe(labels, Math.max(0, Date.now() - d.record.queuedAt) / 1000);
    this.#log(d, 'debug', 'egress-delivered', `delivered to ${provider.name}`);
    return { done: true };
  }

  /** Keep `d` as a dead letter of its tenant, then let its source go; if that cannot be recorded, keep it and try later. */
  async deadLetter(d: PendingDelivery, detail: string, code: string): Promise<JobStep> {
    const provider = this.deps.target(d.address);
    const labels = { ...d.address, provider: provider.ok ? provider.provider.name : 'unknown' };
    let id: string;
    try {
      id = await this.deps.deadLetters.record({
        tenant: d.address.tenant,
        source: 'egress',
        subject: d.subject,
        data: d.data,
        reason: 'undeliverable',
        detail,
        deliveries: d.record.attempts,
      });
    } catch (e) {
      this.#log(d, 'error', 'dead-letter-failed', `${detail}; and it cannot be kept as a dead letter: ${(e as Error).message}`);
      return { done: false, retryInMs: DEAD_LETTER_RETRY_MS };
    }
    try {
      await this.#save(d, { ...d.record, state: 'dead', lastError: detail.slice(0, 2000) });
    } catch {
      // The letter is kept; a stale record only makes a redelivery find it in-flight, which ends as a letter again.
    }
    await d.handle.finish();
    this.deps.metrics.deliveries.inc({ ...labels, outcome: 'dead-lettered' });
    this.#log(d, 'error', 'egress-failed', detail, { code, dead_letter_id: id });
    return { done: true };
  }

  async #save(d: PendingDelivery, record: DeliveryRecord): Promise<void> {
    await d.handle.save(record);
    d.record = record;
  }

  #log(d: PendingDelivery, level: 'debug' | 'warn' | 'error', event: string, msg: string, extra: Record<string, unknown> = {}): void {
    const a = d.address;
    this.deps.logger[level](
      {
        event,
        tenant_id: a.tenant,
        env_id: a.env,
        team_id: a.team,
        channel: a.channel,
        session_id: d.reply.session,
        message_id: d.reply.in_reply_to,
        seq: d.reply.seq,
        ...extra,
      },
      msg,
    );
  }
}
