import { TokenBucket } from './rate-limit.ts';

describe('TokenBucket', () => {
  it('lets a burst through, then one request per 1/qps, in call order', () => {
    let now = 0;
    const b = new TokenBucket(10, 3, () => now);
    expect([b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 0, 0]);
    // Empty: the next callers wait 100 ms, 200 ms, … for their tokens.
    expect(b.reserve()).toBeCloseTo(100);
    expect(b.reserve()).toBeCloseTo(200);
    now = 1000; // 10 tokens refilled, minus the 2 reserved: the bucket is full again (capped at burst)
    expect([b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 0, 0]);
    expect(b.reserve()).toBeCloseTo(100);
  });

  it('refuses a limit that cannot let anything through', () => {
    expect(() => new TokenBucket(0, 1)).toThrow('qps > 0');
    expect(() => new TokenBucket(5, 0)).toThrow('burst');
  });
});
