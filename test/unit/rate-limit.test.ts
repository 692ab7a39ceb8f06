import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../dist/sandbox/rate-limit.js';

describe('the rate limit', () => {
  it('allows a burst, then the sustained rate', () => {
    const b = new TokenBucket(10, 2, 0);
    expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.waitMs(0)).toBe(100);
    expect(b.take(100)).toBe(true);
    expect(b.take(100)).toBe(false);
  });
});
