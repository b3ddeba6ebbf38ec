import { pino } from 'pino';
import type { KubeClient } from './client.ts';
import { ApiError } from './errors.ts';
import { LeaderElector, LeaseError } from './leader.ts';
import { toMicroTime } from './resources.ts';

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

describe('LeaderElector.release', () => {
  it('retries a release that conflicts with its own renewal, which reached the server after all', async () => {
    const lease = (rv: string, holder: string): unknown => ({ metadata: { name: 'lease', namespace: 'ns', resourceVersion: rv }, spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: toMicroTime(new Date()) } });
    const calls: string[] = [];
    let puts = 0;
    // No lease yet → we create it; the first release PUT conflicts (a renewal we aborted landed), the GET
    // shows the lease still ours, the second PUT releases it.
    const e = elector((m) => {
      calls.push(m);
      if (m === 'GET') return calls.filter((c) => c === 'GET').length === 1 ? notFound : lease('3', 'me');
      if (m === 'POST') return lease('1', 'me');
      puts++;
      return puts === 1 ? new ApiError('conflict', 409, 'Conflict') : lease('4', '');
    });
    expect(await e.acquire()).toBe(true);
    await e.release();
    expect(calls).toEqual(['GET', 'POST', 'PUT', 'GET', 'PUT']);
  });

  it('leaves a lease that another identity took over meanwhile', async () => {
    const calls: string[] = [];
    const e = elector((m) => {
      calls.push(m);
      if (m === 'GET') return calls.length === 1 ? notFound : { metadata: { name: 'lease', resourceVersion: '5' }, spec: { holderIdentity: 'other' } };
      if (m === 'POST') return { metadata: { name: 'lease', resourceVersion: '1' }, spec: { holderIdentity: 'me' } };
      return new ApiError('conflict', 409, 'Conflict');
    });
    expect(await e.acquire()).toBe(true);
    await e.release();
    expect(calls).toEqual(['GET', 'POST', 'PUT', 'GET']);
  });
});
