import { errnoOf } from './store-fs.js';

/** What is wrong with the storage, as a stable reason code (for /readyz, metrics and logs). */
export type StorageProblem = 'disk-full' | 'read-only' | 'no-permission' | 'io-error' | 'missing' | 'too-many-open-files' | 'backlog';

/** A sentence for each problem, for messages a person reads. */
export const PROBLEM_TEXT: Readonly<Record<StorageProblem, string>> = {
  'disk-full': 'no space left on the device',
  'read-only': 'the file system is read-only',
  'no-permission': 'permission denied',
  'io-error': 'an I/O error',
  missing: 'a directory is missing or is not a directory',
  'too-many-open-files': 'too many open files',
  backlog: 'too many changes are waiting to be written to the session files',
};

/** Classify a file-system error. */
export function problemOf(e: unknown): StorageProblem {
  if (e instanceof StoreUnavailableError) return e.problem;
  switch (errnoOf(e)) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return 'disk-full';
    case 'EROFS':
      return 'read-only';
    case 'EACCES':
    case 'EPERM':
      return 'no-permission';
    case 'ENOENT':
    case 'ENOTDIR':
      return 'missing';
    case 'EMFILE':
    case 'ENFILE':
      return 'too-many-open-files';
    default:
      return 'io-error';
  }
}

/**
 * The store cannot save right now (disk full, read-only, I/O errors, a write backlog). The
 * change was not made; the same request may succeed later, once the operator (or time) fixes
 * the cause: the store recovers by itself, without a restart.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'storage-unavailable';
  readonly retryable = true;
  constructor(
    readonly problem: StorageProblem,
    message: string,
  ) {
    super(message);
  }

  /** The refusal for a failed write of `what` (a session, the journal), from the file-system error. */
  static from(e: unknown, what: string): StoreUnavailableError {
    if (e instanceof StoreUnavailableError) return e;
    const problem = problemOf(e);
    return new StoreUnavailableError(problem, `${what} could not be saved (${PROBLEM_TEXT[problem]}); nothing was changed, try again later`);
  }
}

/** The data directory cannot be used; the message names it and says what is wrong, in one line. */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}
