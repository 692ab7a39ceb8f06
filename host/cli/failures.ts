import { ComponentBuildError } from '../components/builder.js';
import { ComponentLoadError } from '../components/registry.js';
import { TokenMintError } from '../api/tokens.js';
import { ReplyTimeoutError } from '../messaging/conversation.js';
import { NatsConnectError } from '../messaging/nats/options.js';
import { NatsSetupError } from '../messaging/nats/options.js';
import { MasterKeyMismatchError } from '../stores/key-id.js';
import { MasterKeyError } from '../stores/master-key.js';
import { DataDirError, StoreUnavailableError } from '../stores/storage-problem.js';
import { SecretIntegrityError } from '../stores/secret-cipher.js';
import { PackError } from '../greentic/pack/archive.js';
import { ConfigError } from '../tenancy/config/problems.js';
import { InvalidIdError } from '../tenancy/ids.js';
import { EXIT } from './exit.js';
import { CommandFailed, UsageError } from './usage.js';

/** What `main` prints for a failure, and the exit code. */
export interface Failure {
  readonly code: number;
  /** The message without the "greentic-host COMMAND: " prefix; one line unless it lists problems. */
  readonly message: string;
}

// Errors whose message already names what failed, where, and how to fix it.
const EXPECTED: ReadonlyArray<abstract new (...args: never[]) => Error> = [
  CommandFailed,
  ConfigError,
  NatsConnectError,
  NatsSetupError,
  MasterKeyError,
  MasterKeyMismatchError,
  DataDirError,
  StoreUnavailableError,
  TokenMintError,
  ComponentBuildError,
  ComponentLoadError,
  ReplyTimeoutError,
  PackError,
];

/** How a file-system error code reads to an operator, and what usually fixes it. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of this path is a file, not a directory',
  EISDIR: 'is a directory, not a file',
  EEXIST: 'already exists',
  EACCES: 'permission denied: check the owner and mode of it and of the folders above it',
  EPERM: 'operation not permitted: check the owner and mode of it and of the folders above it',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'too many symbolic links',
};

/**
 * Classify what a command threw. Expected failures keep their message (they name what, where
 * and the fix); a file-system error becomes "PATH: what is wrong (the system call)"; anything
 * else is internal: one line, and the hint to rerun with --debug for the stack.
 */
export function classifyFailure(e: unknown): Failure {
  if (e instanceof UsageError || e instanceof InvalidIdError) return { code: EXIT.usage, message: `${e.message} (see --help)` };
  if (EXPECTED.some((k) => e instanceof k)) return { code: EXIT.failed, message: (e as Error).message };
  if (e instanceof SecretIntegrityError) {
    return {
      code: EXIT.failed,
      message: `${e.message}; if the master key changed, use the one the secrets were sealed with (GREENTIC_MASTER_KEY or DATA/master.key)`,
    };
  }
  // The NATS server refused what this user may not do: the server's words name the subject.
  if (e instanceof Error && (e.name === 'PermissionViolationError' || e.name === 'AuthorizationError' || /permissions violation/i.test(e.message))) {
    return { code: EXIT.failed, message: e.message.split('\n')[0]! };
  }
  const fs = fileSystemFailure(e);
  if (fs) return { code: EXIT.failed, message: fs };
  const why = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message.split('\n')[0]}` : String(e);
  return { code: EXIT.internal, message: `internal error: ${why} (a bug: rerun with --debug for the stack, and report it)` };
}

/** "data/master.key: a part of this path is a file, not a directory (open)", or undefined for other errors. */
function fileSystemFailure(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException | null;
  if (!(e instanceof Error) || typeof err?.code !== 'string' || typeof err.path !== 'string') return undefined;
  const text = Object.hasOwn(ERRNO_TEXT, err.code) ? ERRNO_TEXT[err.code] : err.code;
  return `${err.path}: ${text} (${err.syscall ?? 'file system'}, ${err.code})`;
}
