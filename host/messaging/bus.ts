/** A message as the bus carries it. */
export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Set on ingress the bus delivered before and was not told was handled. */
  readonly redelivered?: boolean;
  /** How often the bus has delivered it, this time included (1 when it cannot tell). */
  readonly deliveries?: number;
  /** The W3C traceparent the publisher sent with it (a NATS header), unchecked: the tracer parses it strictly. */
  readonly traceparent?: string;
}

/** What a publish may carry besides the bytes. */
export interface PublishOptions {
  /** The W3C traceparent of the span publishing it (NATS: the `traceparent` header), so the trace goes on in whoever handles it. */
  readonly traceparent?: string | undefined;
  /** Give up (NATS: stop retrying through reconnects) once this is aborted, with its reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * An ingress handler's verdict that a message can never be handled (a malformed body, a session
 * that cannot be read): the bus records it as a dead letter with `reason` instead of
 * delivering it again.
 */
export class UnhandleableMessageError extends Error {
  override readonly name = 'UnhandleableMessageError';
  constructor(
    readonly reason: 'invalid-message' | 'invalid-header' | 'corrupt-session',
    message: string,
  ) {
    super(message);
  }
}

export type BusHandler = (msg: BusMessage) => void | Promise<void>;
/** Handles one ingress message; the message counts as handled (acknowledged) when this resolves. */
export type IngressHandler = (msg: BusMessage) => Promise<void>;

export interface BusSubscription {
  unsubscribe(): void;
}

/**
 * The one interface of the embedded bus and the NATS bus. Patterns use NATS syntax
 * (`*` = one token, `>` = the rest); subscribers in one queue group share the messages.
 */
export interface MessageBus {
  /**
   * True when an ingress message whose handler throws is delivered again later (NATS); then a
   * transient failure (a store timing out) is better retried than answered with an error.
   */
  readonly redelivers: boolean;
  /** Fire and forget. */
  publish(subject: string, data: Uint8Array): Promise<void>;
  /**
   * Publish so the message survives a restart of the bus, and so a retry with the same `id`
   * is stored once (NATS: JetStream with a message id). The embedded bus just publishes.
   * `signal` ends the retries (its reason is thrown): a caller with a deadline is not held past it.
   */
  publishDurable(subject: string, data: Uint8Array, id: string, opts?: PublishOptions): Promise<void>;
  subscribe(pattern: string, handler: BusHandler, opts?: { queue?: string }): BusSubscription;
  /**
   * Deliver the ingress of `tenants` to `handler`, each message to one instance of the
   * deployment, until the subscription ends. Only those tenants' messages ever arrive.
   */
  consumeIngress(tenants: readonly string[], handler: IngressHandler): Promise<BusSubscription>;
  /**
   * `tenant` left the bundle: remove what consumeIngress set up for it on the bus (NATS: its
   * durable consumer; messages waiting for it stay in the stream). Its subscription ends first.
   */
  retireIngress(tenant: string): Promise<void>;
  /** Wait until every handler started so far has finished. */
  drain(): Promise<void>;
  close(): Promise<void>;
}
