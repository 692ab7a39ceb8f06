/** What was done to a tenant's stored conversations: the one place an audit log hooks in. */
export interface DataEvent {
  readonly action: 'export' | 'erase' | 'expire';
  readonly tenant: string;
  /** The environment acted on; undefined: every environment of the tenant. */
  readonly env?: string | undefined;
  /** What was exported or erased: one user's data, one session, a whole environment or tenant. */
  readonly target: { readonly kind: 'user' | 'session' | 'env' | 'tenant'; readonly id: string };
  /** Who asked: an API token's subject, `cli`, or `expiry` for the sweep. */
  readonly actor: string;
  readonly outcome: 'ok' | 'failed';
  /** What was found or removed, by kind (sessions, dead_letters, secrets). */
  readonly counts?: Readonly<Record<string, number>>;
  readonly error?: string;
}

/** Receives every DataEvent (HostOptions.onDataEvent); it must not throw, and what it throws is logged and dropped. */
export type DataEventSink = (event: DataEvent) => void;
