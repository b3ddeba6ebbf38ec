// Leader election against a real API server: exclusive holdership while renewed, hand-over on
// release, takeover after a holder goes silent, and loss when another identity overwrites the lease.
import { pino } from 'pino';
import type { KubeClient } from '../../src/k8s/client.ts';
import { LeaderElector } from '../../src/k8s/leader.ts';
import { Resources, objectPath, toMicroTime, type KubeObject } from '../../src/k8s/resources.ts';
import { clientAs, createNamespace, eventually } from '../support/kube.ts';

interface Lease extends KubeObject {
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

// Short periods so a takeover needs seconds, not the production 15 s.
const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('LeaderElector', () => {
  let admin: KubeClient;
  let ns: string;
  let electors: LeaderElector[] = [];
  let n = 0;

  const elector = (name: string, identity: string): LeaderElector => {
    const e = new LeaderElector(admin, { namespace: ns, name, identity, log, ...timing });
    electors.push(e);
    return e;
  };
  const lease = (name: string): Promise<Lease> => admin.request<Lease>('GET', objectPath(Resources.lease, ns, name), { verb: 'get' });
  const leaseName = (): string => `operator-${n++}`;

  beforeAll(async () => {
    admin = clientAs('admin');
    ns = await createNamespace(admin, 'leader');
  });

  afterEach(async () => {
    await Promise.all(electors.map((e) => e.release()));
    electors = [];
  });

  it('gives the lease to one identity while it keeps renewing', async () => {
    const name = leaseName();
    const a = elector(name, 'pod-a');
    const b = elector(name, 'pod-b');
    expect(await a.acquire()).toBe(true);
    let aLost = false;
    a.keepRenewing(() => (aLost = true));
    const first = await lease(name);
    expect(first.spec.holderIdentity).toBe('pod-a');
    expect(first.spec.leaseDurationSeconds).toBe(3);
    expect(first.spec.leaseTransitions).toBe(0);
    expect(first.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const stopB = new AbortController();
    let bResult: boolean | undefined;
    const bAcquiring = b.acquire(stopB.signal).then((r) => (bResult = r));
    // Longer than the lease duration: pod-b would have taken an unrenewed lease by now.
    await pause(timing.leaseDurationMs + 1500);
    const later = await lease(name);
    expect(later.spec.holderIdentity).toBe('pod-a');
    expect(later.spec.renewTime).not.toBe(first.spec.renewTime);
    expect(later.spec.acquireTime).toBe(first.spec.acquireTime);
    expect(bResult).toBeUndefined();
    expect(b.isLeader).toBe(false);
    expect(a.isLeader).toBe(true);
    expect(aLost).toBe(false);

    stopB.abort();
    await bAcquiring;
    expect(bResult).toBe(false);
  });

  it('hands over promptly when the holder releases', async () => {
    const name = leaseName();
    const a = elector(name, 'pod-a');
    const b = elector(name, 'pod-b');
    expect(await a.acquire()).toBe(true);
    a.keepRenewing(() => undefined);
    const bAcquiring = b.acquire();

    // pod-a renews at least this late, so an unreleased lease could not expire before renewTime + duration.
    const lastSeen = await lease(name);
    await a.release();
    await a.release(); // safe twice
    expect(a.isLeader).toBe(false);
    expect(await bAcquiring).toBe(true);
    const after = await lease(name);
    expect(after.spec.holderIdentity).toBe('pod-b');
    expect(after.spec.leaseTransitions).toBe(1);
    // Taken over because it was released, not because it expired.
    expect(Date.parse(after.spec.acquireTime!)).toBeLessThan(Date.parse(lastSeen.spec.renewTime!) + timing.leaseDurationMs);
  });

  it('lets another identity take over once a silent holder lets the lease expire', async () => {
    const name = leaseName();
    const a = elector(name, 'pod-a');
    const b = elector(name, 'pod-b');
    expect(await a.acquire()).toBe(true);
    a.keepRenewing(() => undefined);
    const before = await lease(name);

    await a.stop(); // as if the process hung or died: no renewals, no release
    expect(await b.acquire()).toBe(true);
    const after = await lease(name);
    expect(after.spec.holderIdentity).toBe('pod-b');
    expect(after.spec.leaseTransitions).toBe((before.spec.leaseTransitions ?? 0) + 1);
    expect(after.spec.acquireTime).not.toBe(before.spec.acquireTime);
    // Only after the holder's last renewal plus the lease duration.
    expect(Date.parse(after.spec.acquireTime!)).toBeGreaterThanOrEqual(Date.parse(before.spec.renewTime!) + timing.leaseDurationMs);

    // The silent holder's release must not clear the new holder's lease (its resourceVersion is stale).
    await a.release();
    expect((await lease(name)).spec.holderIdentity).toBe('pod-b');
  });

  it('reports the loss once when another identity overwrites the lease', async () => {
    const name = leaseName();
    const a = elector(name, 'pod-a');
    expect(await a.acquire()).toBe(true);
    let lost = 0;
    a.keepRenewing(() => lost++);

    // A PUT like another elector's, racing pod-a's renewals (a 409 means pod-a renewed first: retry).
    await eventually(async () => {
      const current = await lease(name);
      const now = toMicroTime(new Date());
      await admin.request('PUT', objectPath(Resources.lease, ns, name), {
        verb: 'update',
        body: { ...current, spec: { ...current.spec, holderIdentity: 'intruder', leaseDurationSeconds: 60, acquireTime: now, renewTime: now } },
      });
    });
    await eventually(async () => expect(lost).toBe(1), 10_000, 100);
    expect(a.isLeader).toBe(false);
    await pause(timing.retryPeriodMs * 3);
    expect(lost).toBe(1);
    expect((await lease(name)).spec.holderIdentity).toBe('intruder');
  });
});
