/** The WIT `cap-error` cases: the only failures a guest ever sees from a capability. */
export type CapErrorTag = 'access-denied' | 'not-found' | 'invalid-argument' | 'limit-exceeded' | 'unavailable';

/** A capability refusal as it crosses into the guest: `{ tag, val }`. */
export interface CapErrorPayload {
  readonly tag: CapErrorTag;
  readonly val: string;
}

/**
 * A capability call refused for a reason the guest may see. It is an Error for the host
 * (it names tenant, capability and function) and carries the WIT variant in `payload`,
 * which is how jco turns a thrown value into a `result` error instead of a trap.
 */
export class CapabilityError extends Error {
  override readonly name = 'CapabilityError';
  readonly payload: CapErrorPayload;

  constructor(
    readonly tag: CapErrorTag,
    readonly capability: string,
    readonly fn: string,
    readonly tenant: string,
    detail: string,
  ) {
    super(`${capability}.${fn} for tenant "${tenant}": ${tag}: ${detail}`);
    this.payload = { tag, val: `${capability}.${fn}: ${detail}` };
  }
}

/** True for values shaped like a cap-error payload. */
export function isCapErrorPayload(v: unknown): v is CapErrorPayload {
  if (typeof v !== 'object' || v === null) return false;
  const { tag, val } = v as Record<string, unknown>;
  return (
    typeof val === 'string' &&
    (tag === 'access-denied' || tag === 'not-found' || tag === 'invalid-argument' || tag === 'limit-exceeded' || tag === 'unavailable')
  );
}

/**
 * The host ends the whole component call: the guest went on calling past a limit after it was
 * told (limit-exceeded) so often that serving its calls would be the host's work, not its own.
 * Not a cap-error: it unwinds the guest, and the call fails with `code`.
 */
export class CallAbort extends Error {
  override readonly name = 'CallAbort';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
