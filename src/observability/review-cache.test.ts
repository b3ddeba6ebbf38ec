import { FakeClock } from '../../test/support/clock.ts';
import { ReviewBusyError, ReviewCache } from './review-cache.ts';

/** A check whose answers the test settles by hand, counting calls. */
function deferredCheck<T>() {
  const calls: { resolve: (v: T) => void; reject: (e: Error) => void }[] = [];
  const check = (): Promise<T> => new Promise<T>((resolve, reject) => calls.push({ resolve, reject }));
  return { calls, check };
}

describe('ReviewCache', () => {
  it('remembers an answer for as long as ttlOf says, per answer', async () => {
    const clock = new FakeClock();
    const cache = new ReviewCache<string>({ ttlOf: (v) => (v === 'allow' ? 60_000 : 10_000), clock });
    let calls = 0;
    const check = (v: string) => () => (calls++, Promise.resolve(v));
    expect(await cache.get('a', check('allow'))).toBe('allow');
    expect(await cache.get('d', check('deny'))).toBe('deny');
    clock.advance(9_999);
    expect([await cache.get('a', check('x')), await cache.get('d', check('x'))]).toEqual(['allow', 'deny']);
    expect(calls).toBe(2);
    clock.advance(1);
    expect(await cache.get('d', check('deny again'))).toBe('deny again'); // the deny expired at 10 s
    expect(await cache.get('a', check('x'))).toBe('allow');
    clock.advance(50_000);
    expect(await cache.get('a', check('allow again'))).toBe('allow again'); // the allow at 60 s
    expect(calls).toBe(4);
  });

  it('remembers nothing with a ttl of 0, and no failure', async () => {
    const cache = new ReviewCache<string>({ ttlOf: (v) => (v === 'busy' ? 0 : 1_000), clock: new FakeClock() });
    let calls = 0;
    await cache.get('k', () => (calls++, Promise.resolve('busy')));
    await expect(cache.get('k', () => (calls++, Promise.reject(new Error('API down'))))).rejects.toThrow('API down');
    expect(await cache.get('k', () => (calls++, Promise.resolve('ok')))).toBe('ok');
    expect(calls).toBe(3);
    expect(cache.size).toBe(1);
  });

  it('holds at most maxEntries answers and drops the oldest first', async () => {
    const cache = new ReviewCache<number>({ ttlOf: () => 60_000, maxEntries: 3, clock: new FakeClock() });
    for (let i = 0; i < 1_000; i++) await cache.get(`random-${i}`, () => Promise.resolve(i));
    expect(cache.size).toBe(3);
    let calls = 0;
    expect(await cache.get('random-999', () => (calls++, Promise.resolve(-1)))).toBe(999);
    expect(await cache.get('random-997', () => (calls++, Promise.resolve(-1)))).toBe(997);
    expect(await cache.get('random-996', () => (calls++, Promise.resolve(-1)))).toBe(-1); // evicted
    expect(calls).toBe(1);
    expect(cache.size).toBe(3);
  });

  it('shares one check between concurrent callers of the same key, and its failure too', async () => {
    const cache = new ReviewCache<string>({ ttlOf: () => 60_000, clock: new FakeClock() });
    const { calls, check } = deferredCheck<string>();
    const waiting = [cache.get('k', check), cache.get('k', check), cache.get('k', check)];
    const other = cache.get('other', check);
    expect(calls).toHaveLength(2);
    expect(cache.checking).toBe(2);
    calls[0]!.resolve('allowed');
    expect(await Promise.all(waiting)).toEqual(['allowed', 'allowed', 'allowed']);
    calls[1]!.reject(new Error('timeout'));
    await expect(other).rejects.toThrow('timeout');
    expect(cache.checking).toBe(0);
    // The failure was not remembered: the next caller checks again.
    const again = cache.get('other', check);
    expect(calls).toHaveLength(3);
    calls[2]!.resolve('now');
    expect(await again).toBe('now');
  });

  it('refuses at once past maxInFlight different keys, and takes new ones once they finish', async () => {
    const cache = new ReviewCache<string>({ ttlOf: () => 60_000, maxInFlight: 2, clock: new FakeClock() });
    const { calls, check } = deferredCheck<string>();
    const first = [cache.get('a', check), cache.get('b', check)];
    await expect(cache.get('c', check)).rejects.toBeInstanceOf(ReviewBusyError);
    const sameKey = cache.get('a', check); // joins the one in flight
    expect(calls).toHaveLength(2);
    calls[0]!.resolve('A');
    calls[1]!.resolve('B');
    expect(await Promise.all([...first, sameKey])).toEqual(['A', 'B', 'A']);
    const c = cache.get('c', check);
    calls[2]!.resolve('C');
    expect(await c).toBe('C');
  });
});
