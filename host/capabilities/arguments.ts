import { checkId, InvalidIdError, type IdKind } from '../tenancy/ids.js';
import type { InvocationScope } from './scope.js';

/** Check an id argument from a guest; a bad one is `invalid-argument` naming the argument. */
export function idArgument(scope: InvocationScope, capability: string, fn: string, kind: IdKind, value: unknown): string {
  try {
    return checkId(kind, value, `${capability}.${fn} argument`);
  } catch (e) {
    if (e instanceof InvalidIdError) throw scope.error('invalid-argument', capability, fn, e.message);
    throw e;
  }
}

/** Check a string argument from a guest. */
export function stringArgument(scope: InvocationScope, capability: string, fn: string, name: string, value: unknown): string {
  if (typeof value !== 'string') throw scope.error('invalid-argument', capability, fn, `${name} must be a string`);
  return value;
}
