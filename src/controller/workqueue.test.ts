import { FakeClock } from '../../test/support/clock.ts';
import { Workqueue } from './workqueue.ts';

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Resolves-or-not probe for a pending promise. */
function track<T>(p: Promise<T>): { settled: boolean; value: T | undefined } {
  const state: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  void p.then((v) => {
    state.settled = true;
    state.value = v;
  });
  return state;
}

describe('Workqueue worker', () => {
  it('gives the event loop a turn between keys, even when every reconcile resolves without I/O', async () => {
    const q = new Workqueue({ clock: new FakeClock() });
    for (let i = 0; i < 100; i++) q.add(`k${i}`);
    let handled = 0;
    let handledWhenLoopRan = -1;
    setImmediate(() => (handledWhenLoopRan = handled));
    const worker = q.run(async (key) => {
      handled++;
      q.done(key);
      if (handled === 100) q.shutDown();
    });
    await worker;
    expect(handled).toBe(100);
    // Without the turn, all 100 keys run in one stretch of microtasks before any timer or I/O callback.
    expect(handledWhenLoopRan).toBeGreaterThanOrEqual(0);
    expect(handledWhenLoopRan).toBeLessThan(100);
  });
});

describe('Workqueue', () => {
  let clock: FakeClock;

  beforeEach(() => {
    clock = new FakeClock();
  });

  const newQueue = (opts: { baseDelayMs?: number; maxDelayMs?: number } = {}): Workqueue =>
    new Workqueue({ ...opts, clock });

  async function drain(q: Workqueue): Promise<string[]> {
    const out: string[] = [];
    while (q.depth > 0) {
      const k = await q.get();
      if (k === undefined) break;
      out.push(k);
      q.done(k);
    }
    return out;
  }
  it('knows how long the key that waits longest has waited, across both lanes', async () => {
    const q = newQueue();
    expect(q.oldestWaitingMs).toBe(0);
    q.add('a', { low: true });
    clock.advance(1000);
    q.add('b');
    q.add('a'); // moves to the front lane, keeps its age
    clock.advance(500);
    expect(q.oldestWaitingMs).toBe(1500);
    expect(await q.get()).toBe('b');
    expect(q.oldestWaitingMs).toBe(1500);
    expect(await q.get()).toBe('a');
    expect(q.oldestWaitingMs).toBe(0);
  });


  describe('dedupe and order', () => {
    it.each([
      { adds: ['a', 'a', 'a'], order: ['a'] },
      { adds: ['a', 'b', 'a', 'c', 'b'], order: ['a', 'b', 'c'] },
      { adds: ['c', 'a', 'b'], order: ['c', 'a', 'b'] },
      { adds: [], order: [] },
    ])('adds $adds → hands out $order (FIFO, waiting keys deduplicated)', async ({ adds, order }) => {
      const q = newQueue();
      for (const k of adds) q.add(k);
      expect(q.depth).toBe(order.length);
      expect(q.adds).toBe(order.length);
      expect(await drain(q)).toEqual(order);
      expect(q.depth).toBe(0);
      expect(q.inFlight).toBe(0);
    });

    it('hands a key straight to a worker that is already waiting', async () => {
      const q = newQueue();
      const p = q.get();
      q.add('ns/a');
      expect(await p).toBe('ns/a');
      expect(q.depth).toBe(0);
      expect(q.inFlight).toBe(1);
    });

    it('serves waiting workers in the order they asked, one key each', async () => {
      const q = newQueue();
      const first = q.get();
      const second = q.get();
      q.add('x');
      q.add('y');
      expect(await first).toBe('x');
      expect(await second).toBe('y');
      expect(q.inFlight).toBe(2);
    });
  });

  describe('a key is never processed by two workers at once', () => {
    it('a key added while processing waits, and is requeued once when done', async () => {
      const q = newQueue();
      q.add('a');
      expect(await q.get()).toBe('a');

      const other = track(q.get()); // a second worker is idle
      q.add('a');
      q.add('a');
      await flush();
      expect(other.settled).toBe(false);
      expect(q.depth).toBe(0);
      expect(q.inFlight).toBe(1);

      q.done('a');
      await flush();
      expect(other).toEqual({ settled: true, value: 'a' });
      expect(q.inFlight).toBe(1);
      q.done('a');
      expect(q.depth).toBe(0);
      expect(q.inFlight).toBe(0);
    });

    it('the requeued key goes to the back of the queue', async () => {
      const q = newQueue();
      q.add('a');
      expect(await q.get()).toBe('a');
      q.add('a');
      q.add('b');
      expect(q.depth).toBe(1);
      q.done('a');
      expect(q.depth).toBe(2);
      expect(await drain(q)).toEqual(['b', 'a']);
    });

    it('done without a pending add does not requeue', async () => {
      const q = newQueue();
      q.add('a');
      await q.get();
      q.done('a');
      expect(q.depth).toBe(0);
      expect(q.inFlight).toBe(0);
    });

    it('other keys are not blocked by a key in flight', async () => {
      const q = newQueue();
      q.add('a');
      await q.get();
      q.add('b');
      expect(await q.get()).toBe('b');
      expect(q.inFlight).toBe(2);
    });
  });

  describe('addRateLimited', () => {
    it('backs off base·2^n per key, capped at maxDelay, and forget() resets', () => {
      const q = newQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
      const delays = Array.from({ length: 7 }, () => q.addRateLimited('a'));
      expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
      expect(q.numRequeues('a')).toBe(7);
      expect(q.retries).toBe(7);

      // Per key: another key starts at the base.
      expect(q.addRateLimited('b')).toBe(100);

      q.forget('a');
      expect(q.numRequeues('a')).toBe(0);
      expect(q.addRateLimited('a')).toBe(100);
      expect(q.addRateLimited('a')).toBe(200);
    });

    it.each([
      { failures: 0, expected: 200 },
      { failures: 1, expected: 400 },
      { failures: 10, expected: 204_800 },
      { failures: 11, expected: 300_000 },
      { failures: 60, expected: 300_000 },
    ])('with defaults, after $failures failures the delay is $expected ms', ({ failures, expected }) => {
      const q = newQueue();
      for (let i = 0; i < failures; i++) q.addRateLimited('a');
      expect(q.addRateLimited('a')).toBe(expected);
    });

    it.each([
      { min: 0, expected: 100 },
      { min: 50, expected: 100 },
      { min: 5000, expected: 5000 },
    ])('minDelayMs $min raises the first delay to $expected', ({ min, expected }) => {
      const q = newQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
      expect(q.addRateLimited('a', min)).toBe(expected);
    });

    it('adds the key when the backoff elapses', () => {
      const q = newQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
      q.addRateLimited('a');
      expect(q.scheduled).toBe(1);
      clock.advance(99);
      expect(q.depth).toBe(0);
      clock.advance(1);
      expect(q.depth).toBe(1);
      expect(q.scheduled).toBe(0);
    });
  });

  describe('addAfter', () => {
    it.each([
      { first: 1000, second: 500, firesAt: 500 },
      { first: 500, second: 1000, firesAt: 500 },
      { first: 700, second: 700, firesAt: 700 },
    ])('addAfter($first) then addAfter($second) fires once at $firesAt', ({ first, second, firesAt }) => {
      const q = newQueue();
      q.addAfter('a', first);
      q.addAfter('a', second);
      expect(q.scheduled).toBe(1);
      expect(clock.timers.size).toBe(1);
      clock.advance(firesAt - 1);
      expect(q.depth).toBe(0);
      clock.advance(1);
      expect(q.depth).toBe(1);
      clock.advance(10_000);
      expect(q.depth).toBe(1);
      expect(q.adds).toBe(1);
      expect(clock.timers.size).toBe(0);
    });

    it('replacing a later schedule cancels its timer', () => {
      const q = newQueue();
      q.addAfter('a', 1000);
      q.addAfter('a', 10);
      expect(clock.cleared).toHaveLength(1);
    });

    it('a zero or negative delay adds immediately', () => {
      const q = newQueue();
      q.addAfter('a', 0);
      q.addAfter('b', -5);
      expect(q.depth).toBe(2);
      expect(q.scheduled).toBe(0);
    });

    it('keeps separate schedules per key', () => {
      const q = newQueue();
      q.addAfter('a', 300);
      q.addAfter('b', 100);
      expect(q.scheduled).toBe(2);
      clock.advance(100);
      expect(q.depth).toBe(1);
      clock.advance(200);
      expect(q.depth).toBe(2);
    });

    it('a timer firing for a key already waiting does not duplicate it', async () => {
      const q = newQueue();
      q.addAfter('a', 100);
      q.add('a');
      clock.advance(100);
      expect(q.depth).toBe(1);
      expect(await drain(q)).toEqual(['a']);
    });
  });

  describe('shutDown', () => {
    it('resolves waiting workers with undefined and cancels timers', async () => {
      const q = newQueue();
      const w1 = q.get();
      const w2 = q.get();
      q.addAfter('a', 100);
      q.addRateLimited('b');
      expect(clock.timers.size).toBe(2);

      q.shutDown();
      expect(await w1).toBeUndefined();
      expect(await w2).toBeUndefined();
      expect(q.isShuttingDown).toBe(true);
      expect(q.scheduled).toBe(0);
      expect(clock.timers.size).toBe(0);
      expect(clock.cleared).toHaveLength(2);
    });

    it('drops waiting keys and ignores later adds', async () => {
      const q = newQueue();
      q.add('a');
      q.add('b');
      q.shutDown();
      expect(q.depth).toBe(0);
      q.add('c');
      q.addAfter('d', 10);
      expect(q.depth).toBe(0);
      expect(q.scheduled).toBe(0);
      expect(await q.get()).toBeUndefined();
    });

    it('a key in flight is not requeued by done after shutdown', async () => {
      const q = newQueue();
      q.add('a');
      await q.get();
      q.add('a');
      q.shutDown();
      q.done('a');
      expect(q.depth).toBe(0);
      expect(q.inFlight).toBe(0);
      expect(await q.get()).toBeUndefined();
    });
  });

  describe('resyncs wait behind real changes', () => {
    it('serves every key of the front lane before a resync, and dedupes across the lanes', async () => {
      const q = newQueue();
      q.add('r1', { low: true });
      q.add('r2', { low: true });
      q.add('a');
      q.add('r1', { low: true });
      expect(q.depth).toBe(3);
      expect([await q.get(), await q.get(), await q.get()]).toEqual(['a', 'r1', 'r2']);
    });

    it('a real change of a key that waits for its resync moves it to the front', async () => {
      const q = newQueue();
      q.add('r1', { low: true });
      q.add('r2', { low: true });
      q.add('b');
      q.add('r2');
      expect(q.depth).toBe(3);
      expect([await q.get(), await q.get(), await q.get()]).toEqual(['b', 'r2', 'r1']);
    });

    it('a scheduled resync lands in the low lane', async () => {
      const clock = new FakeClock();
      const q = new Workqueue({ clock });
      q.addAfter('r', 100, { low: true });
      q.add('a');
      clock.advance(100);
      expect([await q.get(), await q.get()]).toEqual(['a', 'r']);
    });
  });
});
