import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkId, InvalidIdError, type IdKind } from '../tenancy/ids.js';

export { count } from '../util/count.js';

/** A mistake in how a command was called: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Something the command could not do (bad config, failed turn): exit code 1. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}

export interface CommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly stdin: NodeJS.ReadableStream;
}

/** Run node:util parseArgs so that unknown flags and missing values become UsageErrors naming the flag. */
export function parsingFlags<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, ''));
    throw e;
  }
}

/** The -h/--help flag every command takes. */
export const HELP_FLAG = { help: { type: 'boolean', short: 'h' } } as const;

/** A required flag's value. */
export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag}`);
  return value;
}

/** Check an id given on the command line; a bad one is a UsageError naming the flag. */
export function idFlag(kind: IdKind, value: string | undefined, flag: string): string {
  try {
    if (value === undefined) throw new UsageError(`missing --${flag}`);
    return checkId(kind, value, `--${flag}`);
  } catch (e) {
    if (e instanceof InvalidIdError) throw new UsageError(e.message);
    throw e;
  }
}

/** Check an id given as a positional argument named `label`. */
export function idArgument(kind: IdKind, value: string | undefined, label: string): string {
  try {
    return checkId(kind, value, label);
  } catch (e) {
    if (e instanceof InvalidIdError) throw new UsageError(e.message);
    throw e;
  }
}

/** Like idFlag for an optional flag. */
export function optionalIdFlag(kind: IdKind, value: string | undefined, flag: string): string | undefined {
  return value === undefined ? undefined : idFlag(kind, value, flag);
}

/** `--data DIR` resolved; an existing file there is bad usage (the directory is created when missing). */
export function dataDirFlag(value: string | undefined): string {
  const dir = resolve(value ?? 'data');
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new UsageError(`--data ${value ?? 'data'} is a file, not a directory (give a directory; it is created if missing)`);
  return dir;
}

/** A positive integer flag. */
export function intFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** Parse a JSON flag. */
export function jsonFlag(value: string | undefined, flag: string): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (e) {
    // Node 22+ adds "(line L column C)"; the position alone reads the same on every version.
    throw new UsageError(`--${flag} is not valid JSON: ${(e as Error).message.replace(/ \(line \d+ column \d+\)$/, '')}`);
  }
}

/** Read all of stdin as text. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
