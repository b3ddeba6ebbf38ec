// network.allowFrom: [] (deny every caller) against the real API server: the API server drops an empty
// `ingress` list from a NetworkPolicy, so a desired object that keeps it is never a subset of the stored
// one — the operator would re-apply on every reconcile and report a fight with itself. It must converge
// and then write nothing over 30 s idle, across resyncs.
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, type KubeObject } from '../../src/k8s/resources.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

describe('a policy that admits no caller', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'nopeers');
    await apply(admin, service(ns, 'api'));
    await apply(admin, ingress(ns, 'api', 'api'));
    await apply(admin, policy(ns, 'closed', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }], network: { defaultDeny: true, allowFrom: [] } }));
    op = await startOperator({ namespace: ns, resyncMs: 1000 });
  });

  afterAll(async () => {
    await op?.stop();
  });

  it('denies everything with a NetworkPolicy without ingress rules, then writes nothing across resyncs', async () => {
    const np = await eventually(async () => {
      const items = (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.networkPolicy, ns), { verb: 'list' })).items;
      expect(items).toHaveLength(1);
      return items[0]!;
    }, 20_000);
    expect((np.spec as { policyTypes?: string[] }).policyTypes).toEqual(['Ingress']);
    expect((np.spec as { ingress?: unknown }).ingress).toBeUndefined();
    await op.idle();
    await new Promise((r) => setTimeout(r, 1500));
    await op.idle();
    const before = op.writes.length;
    const reconciles = op.reconciles;
    await new Promise((r) => setTimeout(r, 30_000)); // 30 s idle: 30 resyncs of 1 s
    await op.idle();
    expect(op.reconciles - reconciles).toBeGreaterThanOrEqual(10); // it did look again
    expect(op.writes.slice(before)).toEqual([]);
    expect(op.drifts).toEqual([]);
  }, 60_000);
});
