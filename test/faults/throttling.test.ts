// An overloaded, failing API server: an HTTPS proxy answers a share of the operator's writes with 429 and
// Retry-After, and another share with 500/503. The operator must converge anyway, never retry a throttled
// write before its Retry-After, and keep its writes bounded (backoff per key, no hot loop). Then a burst
// of 1,000 policies and their changes drains with no update lost, and memory stays bounded.
import { readFileSync } from 'node:fs';
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, type KubeObject } from '../../src/k8s/resources.ts';
import { stopControlPlane, type ControlPlaneInfo } from '../support/controlplane.ts';
import { startFaultCluster } from '../support/fault-cluster.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { ingress, policy } from '../support/fixtures.ts';
import { apply, eventually } from '../support/kube.ts';
import { spawnOperator, type OperatorProcess } from '../support/operator-process.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const report: Record<string, unknown> = {};

describe('a throttling and failing API server', () => {
  let cp: ControlPlaneInfo;
  let admin: KubeClient;
  let ns: string;
  let proxy: FaultProxy;
  let op: OperatorProcess;

  const policies = async (): Promise<Policy[]> => (await admin.request<{ items: Policy[] }>('GET', collectionPath(Resources.policy, ns), { verb: 'list' })).items;
  /** Policies whose latest generation is not yet in their status: the updates lost so far. */
  const behind = async (): Promise<string[]> => (await policies()).filter((p) => p.status?.observedGeneration !== p.metadata.generation).map((p) => p.metadata.name);
  const rssMiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${op.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  // An Ingress target (no Service IP needed): annotations, a status; the Ingress need not be served.
  const spec = (name: string, rps: number) => ({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name }], provider: 'ingress-nginx', rateLimit: { requestsPerSecond: rps } });

  beforeAll(async () => {
    const cluster = await startFaultCluster('throttled');
    ({ cp, admin, ns } = cluster);
    proxy = await startFaultProxy({ port: cluster.apiPort, caFile: cluster.caFile }, { throttled: 0.3, failed: 0.1, retryAfterSeconds: 2 });
    op = await spawnOperator(['--namespace', ns, '--leader-elect=false'], cluster.operatorKubeconfig(proxy.port, proxy.ca));
    await op.waitForLine(/Caches synced, starting workers/, 60_000);
  }, 180_000);

  afterAll(async () => {
    process.stdout.write(`faults (throttling): ${JSON.stringify(report)}\n`);
    await op?.stop();
    await proxy?.close();
    if (cp) await stopControlPlane(cp);
  });

  it('converges with 30% of writes throttled (Retry-After 2 s) and 10% failing, never retrying a throttled write early', async () => {
    const n = 30;
    for (let i = 0; i < n; i++) {
      await apply(admin, ingress(ns, `api-${i}`, 'backend'));
      await apply(admin, policy(ns, `p-${i}`, spec(`api-${i}`, 5)));
    }
    const started = Date.now();
    await eventually(async () => expect(await behind()).toEqual([]), 120_000, 500);
    const convergedMs = Date.now() - started;
    const all = [...proxy.seen.entries()].filter(([what]) => !what.startsWith('GET'));
    const injected = all.flatMap(([, reqs]) => reqs).filter((r) => r.injected);
    expect(injected.filter((r) => r.injected === 429).length).toBeGreaterThan(0);
    expect(injected.filter((r) => r.injected >= 500).length).toBeGreaterThan(0);
    // The same write after a 429: not before its Retry-After (a little slack for the clock).
    const early: string[] = [];
    for (const [what, reqs] of all) {
      for (let i = 0; i + 1 < reqs.length; i++) if (reqs[i]!.injected === 429 && reqs[i + 1]!.at - reqs[i]!.at < 1900) early.push(`${what} after ${reqs[i + 1]!.at - reqs[i]!.at} ms`);
    }
    expect(early).toEqual([]);
    const writes = all.reduce((sum, [, reqs]) => sum + reqs.length, 0);
    // Bounded: a few writes per policy (finalizer, annotations, status) and their retries, no hot loop.
    expect(writes).toBeLessThan(n * 20);
    report.throttled = { policies: n, convergedMs, writes, injected429: injected.filter((r) => r.injected === 429).length, injected5xx: injected.filter((r) => r.injected >= 500).length, lostUpdates: (await behind()).length };
  }, 180_000);

  it('a burst of 1,000 policies and their changes in seconds drains with no update lost, memory bounded', async () => {
    proxy.faults = { throttled: 0, failed: 0, retryAfterSeconds: 1 };
    const n = 1000;
    for (let i = 30; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => apply(admin, ingress(ns, `api-${i + k}`, 'backend'))));
    const rssBefore = rssMiB();
    const started = Date.now();
    // Create the rest, then change every policy once: two updates for most, in a few seconds.
    await Promise.all(Array.from({ length: n - 30 }, (_, k) => apply(admin, policy(ns, `p-${k + 30}`, spec(`api-${k + 30}`, 5)))));
    await Promise.all(Array.from({ length: n }, (_, i) => apply(admin, policy(ns, `p-${i}`, spec(`api-${i}`, 7)))));
    const burstMs = Date.now() - started;
    await eventually(async () => {
      const ps = await policies();
      expect(ps).toHaveLength(n);
      expect(await behind()).toEqual([]);
    }, 180_000, 1000);
    const drainedMs = Date.now() - started;
    // Every Ingress carries the latest rate (7), not an earlier one.
    const ings = (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.ingress, ns), { verb: 'list' })).items;
    const stale = ings.filter((i) => i.metadata.annotations?.['nginx.ingress.kubernetes.io/limit-rps'] !== '7').map((i) => i.metadata.name);
    expect(stale).toEqual([]);
    const rssAfter = rssMiB();
    // A loose bound (a leak per change would pass it within a few bursts); the figures go to the report,
    // and the scale benchmark (bench/) measures memory per policy properly.
    expect(rssAfter).toBeLessThan(rssBefore + 400);
    report.burst = { changes: n * 2 - 30, burstMs, drainedMs, rssBeforeMiB: Math.round(rssBefore), rssAfterMiB: Math.round(rssAfter), lostUpdates: stale.length };
  }, 420_000);
});
