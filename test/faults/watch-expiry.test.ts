// A resumed watch whose history is gone: this file's control plane serves watches from etcd itself
// (kube-apiserver --watch-cache=false), so a watch resumed from a compacted resourceVersion gets a real
// 410 Gone from the API server, not a replay from its cache. The operator reaches the API server through
// an HTTPS proxy that ends every open watch cleanly (as a server-side watch timeout does) and holds the
// watches that follow; meanwhile policies and a target are deleted, a spec changes, a policy is created,
// and etcd is compacted. Released, every watch resumes from its old resourceVersion and is answered 410:
// the operator relists (apisec_informer_relists_total{cause="expired"}) and must notice all of it,
// deletions included. Lost updates are counted (goal 0), and printed with the time to converge.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { stopControlPlane, type ControlPlaneInfo } from '../support/controlplane.ts';
import { compactEtcd, startFaultCluster } from '../support/fault-cluster.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, eventually, getOrUndefined } from '../support/kube.ts';
import { metricSum as counter, spawnOperator, type OperatorProcess } from '../support/operator-process.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const RPS = 'nginx.ingress.kubernetes.io/limit-rps';
const MARKER = 'apisec.dev/policy';
const report: Record<string, unknown> = {};

describe('a resumed watch answered 410 Gone', () => {
  let cp: ControlPlaneInfo;
  let admin: KubeClient;
  let ns: string;
  let proxy: FaultProxy;
  let op: OperatorProcess;

  const spec = (name: string, rps: number) => ({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name }], provider: 'ingress-nginx', rateLimit: { requestsPerSecond: rps }, network: { defaultDeny: true } });
  const getPolicy = (name: string): Promise<Policy | undefined> => getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, name));
  const annotations = async (name: string): Promise<Record<string, string>> => (await getOrUndefined<KubeObject>(admin, objectPath(Resources.ingress, ns, name)))?.metadata.annotations ?? {};
  const networkPolicyOwners = async (): Promise<string[]> =>
    (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.networkPolicy, ns), { verb: 'list' })).items.map((o) => o.metadata.ownerReferences?.[0]?.name ?? '');
  const enforcedNow = (p: Policy | undefined): boolean => p?.status?.observedGeneration === p?.metadata.generation && p?.status?.conditions?.some((c) => c.type === 'Enforced' && c.status === 'True') === true;

  /** Each change made while the watches were held, and whether its final state shows (in objects and status). */
  const outcomes = async (): Promise<Record<string, boolean>> => {
    const owners = await networkPolicyOwners();
    const [a0, a1, a3, a4] = await Promise.all(['api-0', 'api-1', 'api-3', 'api-4'].map(annotations));
    const p2 = await getPolicy('p-2');
    const p3 = await getPolicy('p-3');
    return {
      // Deleted with its finalizer: cleaned up, finalizer released, gone.
      'p-0 deleted': (await getPolicy('p-0')) === undefined && !owners.includes('p-0') && a0![RPS] === undefined && a0![MARKER] === undefined,
      // Gone for good (finalizer stripped first): only a relist can tell; cleaned up by name.
      'p-1 removed by force': !owners.includes('p-1') && a1![RPS] === undefined && a1![MARKER] === undefined,
      'api-2 deleted': p2?.status?.conditions?.some((c) => c.type === 'Enforced' && c.status === 'False' && c.reason === 'TargetNotFound') === true,
      'p-3 changed': enforcedNow(p3) && a3![RPS] === '9',
      'p-4 created': enforcedNow(await getPolicy('p-4')) && owners.includes('p-4') && a4![RPS] === '5',
    };
  };
  const lost = async (): Promise<string[]> => Object.entries(await outcomes()).filter(([, ok]) => !ok).map(([what]) => what);

  beforeAll(async () => {
    const cluster = await startFaultCluster('expiry', { apiserverArgs: ['--watch-cache=false'] });
    ({ cp, admin, ns } = cluster);
    proxy = await startFaultProxy({ port: cluster.apiPort, caFile: cluster.caFile }, { throttled: 0, failed: 0, retryAfterSeconds: 1 });
    // Watch timeout 30 s: the watchdog (timeout + 30 s) does not fire while the watches are held.
    op = await spawnOperator(['--namespace', ns, '--leader-elect=false', '--watch-timeout=30s'], cluster.operatorKubeconfig(proxy.port, proxy.ca));
    await op.waitForLine(/Caches synced, starting workers/, 60_000);
    for (let i = 0; i < 4; i++) {
      await apply(admin, service(ns, `svc-${i}`));
      await apply(admin, ingress(ns, `api-${i}`, `svc-${i}`));
      await apply(admin, policy(ns, `p-${i}`, spec(`api-${i}`, 5)));
    }
    await apply(admin, service(ns, 'svc-4'));
    await apply(admin, ingress(ns, 'api-4', 'svc-4'));
    await eventually(async () => {
      for (let i = 0; i < 4; i++) expect(enforcedNow(await getPolicy(`p-${i}`))).toBe(true);
      expect((await networkPolicyOwners()).sort()).toEqual(['p-0', 'p-1', 'p-2', 'p-3']);
    }, 90_000, 500);
  }, 240_000);

  afterAll(async () => {
    process.stdout.write(`faults (watch-expiry): ${JSON.stringify(report)}\n`);
    await op?.stop();
    await proxy?.close();
    if (cp) await stopControlPlane(cp);
  });

  it('without a compaction, the held watches resume where they were and deliver what happened meanwhile (no 410)', async () => {
    const expiredBefore = counter(await op.metrics(), 'apisec_informer_relists_total', { cause: 'expired' });
    const ended = proxy.holdWatches();
    await eventually(async () => expect(proxy.heldWatches()).toBeGreaterThanOrEqual(ended), 30_000);
    await apply(admin, policy(ns, 'p-3', spec('api-3', 7)));
    proxy.releaseWatches();
    const released = Date.now();
    await eventually(async () => {
      expect(enforcedNow(await getPolicy('p-3'))).toBe(true);
      expect((await annotations('api-3'))[RPS]).toBe('7');
    }, 60_000, 500);
    report.watchResumed = { watchesEnded: ended, convergedAfterReleaseMs: Date.now() - released, lostUpdates: 0 };
    expect(counter(await op.metrics(), 'apisec_informer_relists_total', { cause: 'expired' })).toBe(expiredBefore);
  }, 120_000);

  it('relists on the 410 and notices every change made while the watches were held, deletions included', async () => {
    const before = await op.metrics();
    const expiredBefore = counter(before, 'apisec_informer_relists_total', { cause: 'expired' });
    const restartsBefore = counter(before, 'apisec_informer_restarts_total');
    const ended = proxy.holdWatches();
    const heldAt = Date.now();
    expect(ended).toBeGreaterThan(0);
    // Every informer has come back for its next watch, and waits.
    await eventually(async () => expect(proxy.heldWatches()).toBeGreaterThanOrEqual(ended), 30_000);

    await admin.request('DELETE', objectPath(Resources.policy, ns, 'p-0'), { verb: 'delete' });
    await admin.request('PATCH', objectPath(Resources.policy, ns, 'p-1'), { verb: 'patch', body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    await admin.request('DELETE', objectPath(Resources.policy, ns, 'p-1'), { verb: 'delete' });
    await admin.request('DELETE', objectPath(Resources.ingress, ns, 'api-2'), { verb: 'delete' });
    await apply(admin, policy(ns, 'p-3', spec('api-3', 9)));
    await apply(admin, policy(ns, 'p-4', spec('api-4', 5)));
    // A write nothing watches moves etcd's revision past every informer's, then the history goes.
    await admin.request('POST', '/api/v1/namespaces/default/configmaps', { verb: 'create', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'revision-' } } });
    const revision = await compactEtcd(cp.etcdURL ?? '');
    expect(await lost()).toHaveLength(5); // nothing of it has reached the operator yet

    proxy.releaseWatches();
    const released = Date.now();
    await op.waitForLine(/Watch expired, relisting/, 30_000);
    await eventually(async () => expect(await lost()).toEqual([]), 90_000, 500);
    const convergedMs = Date.now() - released;
    const after = await op.metrics();
    const expired = (resource: string): number => counter(after, 'apisec_informer_relists_total', { resource, cause: 'expired' }) - counter(before, 'apisec_informer_relists_total', { resource, cause: 'expired' });
    // The resumed watches of the kinds that changed were answered 410 and relisted; nothing failed.
    for (const resource of ['apisecuritypolicies', 'ingresses', 'networkpolicies']) expect(expired(resource)).toBeGreaterThanOrEqual(1);
    expect(counter(after, 'apisec_informer_restarts_total')).toBe(restartsBefore);
    expect(await op.metrics().then((t) => counter(t, 'apisec_informer_healthy'))).toBeGreaterThan(0);
    report.watchExpired = {
      heldMs: released - heldAt,
      watchesEnded: ended,
      compactedAt: revision,
      relistsAfter410: counter(after, 'apisec_informer_relists_total', { cause: 'expired' }) - expiredBefore,
      changesWhileHeld: 5,
      convergedAfterReleaseMs: convergedMs,
      lostUpdates: (await lost()).length,
    };
  }, 180_000);
});
