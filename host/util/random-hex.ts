import { randomFillSync } from 'node:crypto';

/** Random bytes taken from here, refilled from the CSPRNG 4 KiB at a time (one call per ~250 ids, not one per id). */
const pool = Buffer.alloc(4096);
let at = pool.length;

/**
 * `bytes` random bytes as hex, for ids that must not repeat (message and trace ids). The bytes
 * come from the same CSPRNG as crypto.randomBytes; only the system calls are batched.
 */
export function randomHex(bytes: number): string {
  if (at + bytes > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  const hex = pool.toString('hex', at, at + bytes);
  at += bytes;
  return hex;
}
