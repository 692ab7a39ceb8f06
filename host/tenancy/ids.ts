/**
 * The one id grammar. Tenant, env, team, channel, session, user, secret, component,
 * flow, node and state-key ids all match it, so an id is always exactly one path
 * segment, one NATS subject token and one key field. Ids are validated where they
 * enter (config, HTTP, subjects, CLI) and never "sanitised".
 */
export const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const ID_PATTERN_TEXT = '^[a-z0-9][a-z0-9_-]{0,62}$';
export const ID_MAX_LENGTH = 63;

export type IdKind =
  'tenant' | 'env' | 'team' | 'channel' | 'session' | 'user' | 'secret' | 'component' | 'flow' | 'node' | 'state key' | 'message' | 'workspace';

/** Ids that would collide with a namespace or key field the host builds. */
const RESERVED: Partial<Record<IdKind, ReadonlySet<string>>> = {
  // `global/` is the shared secret namespace.
  tenant: new Set(['global']),
  // `default` stands for "no team" in state keys.
  team: new Set(['default']),
};

/** An id that does not match the grammar; the message names the value, the kind and where it came from. */
export class InvalidIdError extends Error {
  override readonly name = 'InvalidIdError';
  constructor(
    readonly kind: IdKind,
    readonly value: unknown,
    readonly where: string,
    readonly reason: string,
  ) {
    super(`invalid ${kind} id ${quoteForMessage(value)} in ${where}: ${reason}`);
  }
}

/** True when `value` is a string matching the id grammar (reserved words included). */
export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** Returns `value` if it is a valid `kind` id, else throws InvalidIdError naming `where`. */
export function checkId(kind: IdKind, value: unknown, where: string): string {
  if (isValidId(value) && !RESERVED[kind]?.has(value)) return value;
  throw new InvalidIdError(kind, value, where, whyInvalid(kind, value));
}

/** Why `value` is not a valid id, in words a user can act on. */
export function whyInvalid(kind: IdKind, value: unknown): string {
  if (typeof value !== 'string') return `expected a string, got ${value === null ? 'null' : typeof value}`;
  if (value.length === 0) return 'it is empty';
  if (value.length > ID_MAX_LENGTH) return `it is ${value.length} characters long; the limit is ${ID_MAX_LENGTH}`;
  if (RESERVED[kind]?.has(value)) return `"${value}" is reserved`;
  if (/[A-Z]/.test(value)) return `it has upper-case letters; ids are lower case (${ID_PATTERN_TEXT})`;
  const bad = [...value].find((c) => !/[a-z0-9_-]/.test(c));
  if (bad !== undefined) return `it contains ${describeChar(bad)}; ids match ${ID_PATTERN_TEXT}`;
  return `it must start with a letter or digit; ids match ${ID_PATTERN_TEXT}`;
}

function describeChar(c: string): string {
  if (/\s/.test(c)) return 'whitespace';
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) return `a control character (U+${code.toString(16).padStart(4, '0')})`;
  return JSON.stringify(c);
}

/** Quote an untrusted value for an error or log line: JSON-escaped and bounded in length. */
export function quoteForMessage(value: unknown): string {
  if (typeof value !== 'string') return value === undefined ? '(missing)' : (JSON.stringify(value) ?? String(value));
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(shown);
}
