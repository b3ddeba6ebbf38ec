// Generated names (issue 13, findings 2 and 6) against the real API server and the running operator: names
// used to be `apisec-<policy>-<service>`, so policy `a` + Service `b-c` and policy `a-b` + Service `c` both
// wrote `apisec-a-b-c` and overwrote (and, on deletion, garbage-collected) each other's NetworkPolicy, and
// the operator took over any object that already had the name. Now each name carries a hash of the
// namespace, the policy's UID and the target, and a name this policy does not own is never written.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { generatedName, LABEL_MANAGED_BY, LABEL_POLICY, MANAGED_BY } from '../../src/render/labels.ts';
import { policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
type NetworkPolicy = KubeObject & { metadata: { ownerReferences?: { uid: string }[] }; spec: { podSelector: unknown } };

describe('generated names', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;
  const onService = (svc: string): Record<string, unknown> => ({ targetRefs: [{ group: '', kind: 'Service', name: svc }], network: { defaultDeny: true } });
  const getPolicy = (n: string): Promise<Policy | undefined> => getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, n));
  const cond = (p: Policy | undefined, type: string): { status: string; reason: string; message: string } | undefined => p?.status?.conditions?.find((c) => c.type === type);
  const networkPolicies = async (): Promise<NetworkPolicy[]> =>
    (await admin.request<{ items: NetworkPolicy[] }>('GET', collectionPath(Resources.networkPolicy, ns), { verb: 'list' })).items;
  const enforced = (name: string): Promise<Policy> =>
    eventually(async () => {
      const p = await getPolicy(name);
      expect(cond(p, 'Enforced')).toMatchObject({ status: 'True' });
      return p!;
    }, 20_000);
  const ref = (p: Policy): { name: string; namespace: string; uid: string } => ({ name: p.metadata.name, namespace: ns, uid: p.metadata.uid ?? '' });

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'names');
    for (const s of ['b-c', 'c']) await apply(admin, service(ns, s));
    op = await startOperator({ namespace: ns });
  });

  afterAll(async () => {
    await op?.stop();
  });

  it('policy a + Service b-c and policy a-b + Service c both reach Enforced, each with its own NetworkPolicy', async () => {
    await apply(admin, policy(ns, 'a', onService('b-c')));
    await apply(admin, policy(ns, 'a-b', onService('c')));
    const a = await enforced('a');
    const ab = await enforced('a-b');
    const nps = await eventually(async () => {
      const items = await networkPolicies();
      expect(items.map((n) => n.metadata.name).sort()).toEqual([generatedName(ref(a), 'b-c'), generatedName(ref(ab), 'c')].sort());
      return items;
    }, 20_000);
    for (const [p, svc] of [[a, 'b-c'], [ab, 'c']] as const) {
      const np = nps.find((n) => n.metadata.name === generatedName(ref(p), svc))!;
      expect(np.metadata.name.length).toBeLessThanOrEqual(63);
      expect(np.metadata.ownerReferences?.map((o) => o.uid)).toEqual([p.metadata.uid]);
      expect(np.spec.podSelector).toEqual({ matchLabels: { app: svc } });
    }
  });

  it('an object under the old name, owned by the policy, is deleted on the next reconcile (migration)', async () => {
    const ab = await enforced('a-b');
    // What the previous version wrote for policy a-b and Service c.
    await apply(admin, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: 'apisec-a-b-c',
        namespace: ns,
        labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_POLICY]: 'a-b' },
        ownerReferences: [{ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'a-b', uid: ab.metadata.uid!, controller: true }],
      },
      spec: { podSelector: { matchLabels: { app: 'c' } }, policyTypes: ['Ingress'] },
    } as KubeObject);
    await eventually(async () => {
      expect((await networkPolicies()).map((n) => n.metadata.name)).not.toContain('apisec-a-b-c');
    }, 20_000);
    expect((await networkPolicies()).map((n) => n.metadata.name)).toContain(generatedName(ref(ab), 'c'));
  });

  it("deleting one policy leaves the other's NetworkPolicy", async () => {
    const a = await enforced('a');
    const ab = await enforced('a-b');
    await admin.request('DELETE', objectPath(Resources.policy, ns, 'a'), { verb: 'delete' });
    await eventually(async () => {
      expect((await networkPolicies()).map((n) => n.metadata.name)).not.toContain(generatedName(ref(a), 'b-c'));
    }, 20_000);
    await op.idle();
    const left = await networkPolicies();
    expect(left.map((n) => n.metadata.name)).toEqual([generatedName(ref(ab), 'c')]);
    expect(cond(await getPolicy('a-b'), 'Enforced')).toMatchObject({ status: 'True' });
  });

  it.each([
    ['without the operator labels (not in its caches: found by name)', false],
    ["with the operator's labels for this policy, as a tenant can set them (in its caches)", true],
  ])('a pre-existing object of the generated name %s is not taken over: Conflicted, naming the owner', async (_what, labelled) => {
    const name = labelled ? 'squat-labelled' : 'squat-plain';
    const labels = labelled ? { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_POLICY]: name } : {};
    // The policy first targets a Service that does not exist yet: it has a UID, and no NetworkPolicy.
    await apply(admin, policy(ns, name, onService(`${name}-svc`)));
    const p = await eventually(async () => {
      const x = await getPolicy(name);
      expect(cond(x, 'Enforced')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
      return x!;
    }, 20_000);
    const taken = generatedName(ref(p), `${name}-svc`);
    const foreign = await apply(admin, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: taken, namespace: ns, labels },
      spec: { podSelector: { matchLabels: { app: 'someone-else' } }, policyTypes: ['Ingress'], ingress: [{}] },
    } as KubeObject);
    await apply(admin, service(ns, `${name}-svc`));
    const refused = await eventually(async () => {
      const x = await getPolicy(name);
      expect(cond(x, 'Conflicted')).toMatchObject({ status: 'True', reason: 'ForeignObject' });
      return x;
    }, 20_000);
    expect(cond(refused, 'Conflicted')?.message).toContain(`NetworkPolicy ${taken} already exists and is not this policy's: owned by no owner (created outside the operator)`);
    expect(cond(refused, 'Enforced')).toMatchObject({ status: 'False', reason: 'Conflicted' });
    await op.idle();
    const after = await admin.request<NetworkPolicy>('GET', objectPath(Resources.networkPolicy, ns, taken), { verb: 'get' });
    expect(after.metadata.resourceVersion).toBe(foreign.metadata.resourceVersion);
    expect(after.metadata.ownerReferences).toBeUndefined();
  });
});
