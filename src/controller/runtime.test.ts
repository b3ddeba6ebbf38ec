// The runtime's error contract on a manual clock: what happens to a key after each kind of outcome.
import { pino } from 'pino';
import { ApiError, TerminalError } from '../k8s/errors.ts';
import { Registry, operatorMetrics } from '../observability/metrics.ts';
import { FakeClock } from '../../test/support/clock.ts';
import { Controller, type ReconcileContext, type ReconcileOutcome } from './runtime.ts';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function setup(behaviour: (key: string, ctx: ReconcileContext, n: number) => Promise<ReconcileOutcome>, random?: () => number) {
  const clock = new FakeClock();
  const registry = new Registry();
  const metrics = operatorMetrics(registry);
  const seen: { key: string; at: number; reconcileID: unknown }[] = [];
  const outcomes: string[] = [];
  let n = 0;
  const controller = new Controller({
    name: 'test',
    log: pino({ level: 'silent' }),
    clock,
    backoff: { baseDelayMs: 100, maxDelayMs: 10_000 },
    metrics: metrics.controller('test'),
    reconciler: {
      reconcile: (key, ctx) => {
        seen.push({ key, at: clock.now(), reconcileID: (ctx.log.bindings() as { reconcileID?: unknown }).reconcileID });
        return behaviour(key, ctx, ++n);
      },
    },
    onReconcile: (outcome, _s, writes) => void outcomes.push(`${outcome}:${writes}`),
    ...(random ? { random } : {}),
  });
  const metric = async (name: string): Promise<number> => {
    const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{controller="test"`) || l.startsWith(`${name}{name="test"`));
    return Number(line?.split(' ').pop());
  };
  return { clock, controller, seen, outcomes, metric };
}

describe('Controller (runtime)', () => {
  it('success with requeueAfter: re-checked exactly then, with a new reconcile ID each time', async () => {
    const t = setup(async (_k, ctx) => {
      ctx.writes.add(2);
      return { requeueAfterMs: 5000 };
    });
    t.controller.enqueue('a');
    t.controller.start();
    await flush();
    expect(t.seen).toHaveLength(1);
    t.clock.advance(4999);
    await flush();
    expect(t.seen).toHaveLength(1);
    t.clock.advance(1);
    await flush();
    expect(t.seen.map((s) => s.at - t.seen[0]!.at)).toEqual([0, 5000]);
    expect(new Set(t.seen.map((s) => s.reconcileID)).size).toBe(2);
    expect(t.outcomes.slice(0, 2)).toEqual(['success:2', 'success:2']);
    await t.controller.stop();
  });

  it('success without an outcome: nothing is scheduled', async () => {
    const t = setup(async () => undefined);
    t.controller.enqueue('a');
    t.controller.start();
    await flush();
    expect(t.controller.queue.scheduled).toBe(0);
    await t.controller.stop();
  });

  it('a TerminalError is not retried until the key is added again, and is counted as terminal', async () => {
    const t = setup(async () => {
      throw new TerminalError('InvalidSpec', 'spec.rateLimit: bad');
    });
    t.controller.enqueue('a');
    t.controller.start();
    await flush();
    t.clock.advance(60 * 60_000);
    await flush();
    expect(t.seen).toHaveLength(1);
    expect(t.controller.queue.numRequeues('a')).toBe(0);
    expect(await t.metric('apisec_reconcile_terminal_errors_total')).toBe(1);
    expect(t.outcomes).toEqual(['error:0']);
    t.controller.enqueue('a'); // the object changed
    await flush();
    expect(t.seen).toHaveLength(2);
    await t.controller.stop();
  });

  it('transient errors back off per key exponentially, then success resets the backoff', async () => {
    const t = setup(async (_k, _c, n) => {
      if (n <= 3) throw new ApiError('unavailable', 503, 'ServiceUnavailable');
      return undefined;
    });
    t.controller.enqueue('a');
    t.controller.start();
    await flush();
    for (const [i, delay] of [100, 200, 400].entries()) {
      t.clock.advance(delay - 1);
      await flush();
      expect(t.seen).toHaveLength(i + 1);
      t.clock.advance(1);
      await flush();
      expect(t.seen).toHaveLength(i + 2);
    }
    expect(t.outcomes).toEqual(['requeue:0', 'requeue:0', 'requeue:0', 'success:0']);
    expect(t.controller.queue.numRequeues('a')).toBe(0);
    expect(await t.metric('apisec_workqueue_retries_total')).toBe(3);
    await t.controller.stop();
  });

  it('a 429 with Retry-After is retried no sooner than the server asked', async () => {
    const t = setup(async (_k, _c, n) => {
      if (n === 1) throw new ApiError('slow down', 429, 'TooManyRequests', 3);
      return undefined;
    });
    t.controller.enqueue('a');
    t.controller.start();
    await flush();
    t.clock.advance(2999);
    await flush();
    expect(t.seen).toHaveLength(1);
    t.clock.advance(1);
    await flush();
    expect(t.seen).toHaveLength(2);
    await t.controller.stop();
  });

  it('a non-API error is retried with backoff and reported as an error, not a requeue', async () => {
    const t = setup(async (_k, _c, n) => {
      if (n === 1) throw new Error('bug');
      return undefined;
    });
    t.controller.enqueue('a');
    t.controller.start();
    await flush();
    t.clock.advance(100);
    await flush();
    expect(t.outcomes).toEqual(['error:0', 'success:0']);
    await t.controller.stop();
  });

  it('a resync is spread by up to 10% of its period; a plain requeueAfter is exact', async () => {
    const t = setup(async (key) => (key === 'resync' ? { requeueAfterMs: 10_000, resync: true } : { requeueAfterMs: 10_000 }), () => 0.5);
    t.controller.enqueue('resync');
    t.controller.enqueue('exact');
    t.controller.start();
    await flush();
    const t0 = t.clock.now();
    const at = (key: string): number[] => t.seen.filter((s) => s.key === key).map((s) => s.at - t0);
    t.clock.advance(10_000);
    await flush();
    expect(at('exact')).toEqual([0, 10_000]);
    expect(at('resync')).toEqual([0]);
    t.clock.advance(500);
    await flush();
    expect(at('resync')).toEqual([0, 10_500]);
    await t.controller.stop();
  });
});
