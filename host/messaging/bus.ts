/** A message as the bus carries it. */
export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
}

export type BusHandler = (msg: BusMessage) => void | Promise<void>;

export interface BusSubscription {
  unsubscribe(): void;
}

/**
 * The one interface of the embedded bus and the NATS bus. Patterns use NATS syntax
 * (`*` = one token, `>` = the rest); subscribers in one queue group share the messages.
 */
export interface MessageBus {
  publish(subject: string, data: Uint8Array): Promise<void>;
  subscribe(pattern: string, handler: BusHandler, opts?: { queue?: string }): BusSubscription;
  /** Wait until every handler started so far has finished. */
  drain(): Promise<void>;
  close(): Promise<void>;
}
