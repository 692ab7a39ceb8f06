// How the CLI reports what a command threw: expected failures keep their message, file-system
// errors name the path, anything else is one line marked internal (exit 70) with the --debug hint.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { environmentProblem, EXIT } from '../../dist/cli/exit.js';
import { classifyFailure } from '../../dist/cli/failures.js';
import { CommandFailed, UsageError } from '../../dist/cli/usage.js';
import { MasterKeyError } from '../../dist/stores/master-key.js';
import { InvalidIdError } from '../../dist/tenancy/ids.js';

describe('classifyFailure', () => {
  it('keeps the message of expected failures, with the documented exit codes', () => {
    expect(classifyFailure(new UsageError('missing --bundle'))).toEqual({ code: EXIT.usage, message: 'missing --bundle (see --help)' });
    expect(classifyFailure(new InvalidIdError('tenant', 'A', '--tenant', 'upper case'))).toEqual({
      code: 2,
      message: 'invalid tenant id "A" in --tenant: upper case (see --help)',
    });
    expect(classifyFailure(new CommandFailed('no such channel'))).toEqual({ code: EXIT.failed, message: 'no such channel' });
    expect(classifyFailure(new MasterKeyError('bad key'))).toEqual({ code: 1, message: 'bad key' });
  });

  it('names the path of a file-system error, the problem and the system call', async () => {
    const e = await readFile('/nonexistent/greentic/x').catch((err: unknown) => err);
    expect(classifyFailure(e)).toEqual({ code: 1, message: '/nonexistent/greentic/x: no such file or directory (open, ENOENT)' });
  });

  it('reports anything else as one internal line with the --debug hint, never the stack', () => {
    const f = classifyFailure(new TypeError("Cannot read properties of undefined (reading 'x')\n    at somewhere (file.js:1:1)"));
    expect(f).toEqual({
      code: 70,
      message: "internal error: TypeError: Cannot read properties of undefined (reading 'x') (a bug: rerun with --debug for the stack, and report it)",
    });
    expect(classifyFailure('a string')).toEqual({ code: 70, message: 'internal error: a string (a bug: rerun with --debug for the stack, and report it)' });
  });
});

describe('environmentProblem', () => {
  it('accepts the known log levels and none, and names a wrong one', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', ''])
      expect(environmentProblem({ GREENTIC_LOG_LEVEL: level })).toBeUndefined();
    expect(environmentProblem({})).toBeUndefined();
    expect(environmentProblem({ GREENTIC_LOG_LEVEL: 'INFO' })).toBe(
      'GREENTIC_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "INFO"',
    );
  });
});
