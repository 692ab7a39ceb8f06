import { isValidId } from '../../dist/tenancy/ids.js';

/**
 * Every name a lookup could find on a prototype instead of in the data: Object.prototype's
 * own properties, Function's and Array's (what `obj[name]` reaches through a function or a
 * list), the names engines and libraries treat specially, and their lower-case spellings (the
 * only ones the id grammar lets through, so the ones that must be looked up as plain names).
 */
export const PROTOTYPE_NAMES: readonly string[] = [
  ...new Set(
    [
      ...Object.getOwnPropertyNames(Object.prototype),
      ...Object.getOwnPropertyNames(Function.prototype),
      ...Object.getOwnPropertyNames(Array.prototype),
      '__proto__',
      'prototype',
      'constructor',
      'toJSON',
      'then',
      'callee',
    ].flatMap((n) => [n, n.toLowerCase()]),
  ),
].sort();

/** The prototype names the id grammar accepts: each must work as an ordinary, own name. */
export const ID_SHAPED_PROTOTYPE_NAMES = PROTOTYPE_NAMES.filter((n) => isValidId(n));
/** The rest: each must be refused where an id is expected. */
export const NON_ID_PROTOTYPE_NAMES = PROTOTYPE_NAMES.filter((n) => !isValidId(n));
