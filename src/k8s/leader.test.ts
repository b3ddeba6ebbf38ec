import { pino } from 'pino';
import type { KubeClient } from './client.ts';
import { ApiError } from './errors.ts';
import { LeaderElector, LeaseError, toMicroTime } from './leader.ts';

type Answer = (method: string) => unknown;

function elector(answer: Answer): LeaderElector {
  const client = {
    request: async (method: string) => {
      const a = answer(method);
      if (a instanceof Error) throw a;
      return a;
    },
  } as unknown as KubeClient;
  return new LeaderElector(client, { namespace: 'ns', name: 'lease', identity: 'me', log: pino({ level: 'silent' }), retryPeriodMs: 10, renewDeadlineMs: 50, leaseDurationMs: 100 });
}

const notFound = new ApiError('not found', 404, 'NotFound');

describe('LeaderElector.acquire', () => {
  it('rejects with a LeaseError naming the verb when the namespace is missing', async () => {
    const e = elector((m) => (m === 'GET' ? notFound : new ApiError('namespaces "ns" not found', 404, 'NotFound')));
    const err = (await e.acquire().catch((x: unknown) => x)) as LeaseError;
    expect(err).toBeInstanceOf(LeaseError);
    expect({ verb: err.verb, namespace: err.namespace, status: err.status }).toEqual({ verb: 'create', namespace: 'ns', status: 404 });
    expect(e.isStandby).toBe(false);
  });

  it('rejects on 403 without retrying, and keeps retrying on 503', async () => {
    let calls = 0;
    const forbidden = elector(() => (calls++, new ApiError('forbidden', 403, 'Forbidden')));
    await expect(forbidden.acquire()).rejects.toMatchObject({ verb: 'get', status: 403 });
    expect(calls).toBe(1);

    let unavailable = 0;
    const flaky = elector(() => (unavailable++ < 3 ? new ApiError('unavailable', 503, 'ServiceUnavailable') : notFound));
    // After three 503s the GET says "no lease" and the POST (same answer) rejects: it was retried.
    await expect(flaky.acquire()).rejects.toMatchObject({ verb: 'create' });
    expect(unavailable).toBe(5);
  });

  it('is a standby only after it has read a live lease held by another identity', async () => {
    const ctl = new AbortController();
    const now = toMicroTime(new Date(Date.now() + 60_000));
    const e = elector(() => ({ metadata: { name: 'lease', namespace: 'ns', resourceVersion: '1' }, spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: now } }));
    expect(e.isStandby).toBe(false);
    const acquiring = e.acquire(ctl.signal);
    await new Promise((r) => setTimeout(r, 50));
    expect(e.isStandby).toBe(true);
    ctl.abort();
    expect(await acquiring).toBe(false);
  });
});
