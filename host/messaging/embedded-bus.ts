import type { BusHandler, BusMessage, BusSubscription, IngressHandler, MessageBus, PublishOptions } from './bus.js';
import { ingressPattern } from './subjects.js';
import { Sublist } from './sublist.js';

interface Sub {
  readonly handler: BusHandler;
  readonly queue: string | undefined;
  active: boolean;
}

/**
 * The in-process bus of the embedded defaults: NATS subject semantics, no server. A handler
 * error is reported to `onError`, never to the publisher, as on a real bus.
 */
export class EmbeddedBus implements MessageBus {
  /** Subscriptions by subject token: a publish costs its subject's tokens, not the number of subscriptions. */
  readonly #subs = new Sublist<Sub>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #queueTurn = new Map<string, number>();
  #closed = false;
  readonly redelivers = false;

  constructor(private readonly onError: (err: unknown, msg: BusMessage) => void = () => {}) {}

  async publish(subject: string, data: Uint8Array, opts: PublishOptions = {}): Promise<void> {
    if (this.#closed) throw new Error('bus is closed');
    if (!subject || /[\s*>]/.test(subject) || subject.split('.').some((t) => t === '')) {
      throw new Error(`cannot publish to ${JSON.stringify(subject.slice(0, 200))}: a subject is dot-separated tokens without wildcards or whitespace`);
    }
    const msg: BusMessage = opts.traceparent === undefined ? { subject, data } : { subject, data, traceparent: opts.traceparent };
    const groups = new Map<string, Sub[]>();
    for (const sub of this.#subs.match(subject)) {
      if (!sub.active) continue;
      if (sub.queue === undefined) this.#deliver(sub, msg);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    }
    // One member of each queue group gets it, in turn.
    for (const [queue, members] of groups) {
      const turn = this.#queueTurn.get(queue) ?? 0;
      this.#queueTurn.set(queue, turn + 1);
      this.#deliver(members[turn % members.length]!, msg);
    }
  }

  async publishDurable(subject: string, data: Uint8Array, _id?: string, opts?: PublishOptions): Promise<void> {
    await this.publish(subject, data, opts);
  }

  async consumeIngress(tenants: readonly string[], handler: IngressHandler): Promise<BusSubscription> {
    const subs = tenants.map((t) => this.subscribe(ingressPattern(t), handler, { queue: 'greentic-host' }));
    return { unsubscribe: () => subs.forEach((s) => s.unsubscribe()) };
  }

  /** Nothing to retire: a tenant's subscriptions are all there is, and they ended with its unsubscribe. */
  async retireIngress(_tenant: string): Promise<void> {}

  subscribe(pattern: string, handler: BusHandler, opts: { queue?: string } = {}): BusSubscription {
    const sub: Sub = { handler, queue: opts.queue, active: true };
    this.#subs.add(pattern, sub);
    return {
      unsubscribe: () => {
        sub.active = false;
        this.#subs.remove(sub);
      },
    };
  }

  #deliver(sub: Sub, msg: BusMessage): void {
    // Asynchronous delivery, as over a network: the publisher never runs subscriber code.
    const p = Promise.resolve()
      .then(() => (sub.active ? sub.handler(msg) : undefined))
      .catch((err) => this.onError(err, msg))
      .finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  async drain(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.drain();
    this.#subs.clear();
  }
}
