// Finding 4 of the security review, on the real API server: the operator's forced server-side apply used
// to take over annotation keys that another manager had set on an Ingress (an admin's allow-list), and to
// delete them when the policy later dropped that control. A tenant who may write only policies (not
// Ingresses) could so rewrite the admin's allow-list through the operator. Now an apply that would change
// another manager's key is not made: the policy is Conflicted, naming the key and the manager, and the
// admin's annotation keeps its value and its owner through every step, including the policy dropping the
// control. Once the admin frees the key, the policy is enforced.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { ALL_VERBS, apply, clientAs, createNamespace, grantTenant, policyCondition, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const ALLOW = 'nginx.ingress.kubernetes.io/allowlist-source-range';
const ADMIN_RANGE = '10.0.0.0/8';

describe('annotations another manager owns', () => {
  let admin: KubeClient;
  let tenant: KubeClient;
  let ns: string;
  let op: RunningOperator;
  const target = { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }] };
  const getIngress = (): Promise<KubeObject> => admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, 'api'), { verb: 'get' });
  const owners = (ing: KubeObject, key: string): string[] =>
    (ing.metadata.managedFields ?? [])
      .filter((m) => `f:${key}` in (((m.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined)?.['f:annotations'] as Record<string, unknown> | undefined) ?? {}))
      .map((m) => m.manager ?? '')
      .sort();
  const reconciled = (name: string): Promise<Policy> =>
    eventually(async () => {
      const p = await getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, name));
      if (!p || p.status?.observedGeneration !== p.metadata.generation) throw new Error(`${name} not reconciled yet`);
      return p;
    }, 20_000);
  /** The platform admin's own annotation, as kubectl annotate writes it: a merge patch under its own manager. */
  const adminAnnotates = (value: string | null): Promise<unknown> =>
    admin.request('PATCH', objectPath(Resources.ingress, ns, 'api'), {
      verb: 'patch',
      query: { fieldManager: 'platform-admin' },
      body: { metadata: { annotations: { [ALLOW]: value } } },
      contentType: 'application/merge-patch+json',
    });

  beforeAll(async () => {
    admin = clientAs('admin');
    tenant = clientAs('tenant');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'annotation-owner');
    // The team may write policies here, and nothing else: the Ingress is the platform's.
    await grantTenant(admin, ns, [{ apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies'], verbs: ALL_VERBS }], 'policies-only');
    await apply(admin, service(ns, 'api'));
    await apply(admin, ingress(ns, 'api', 'api'));
    await adminAnnotates(ADMIN_RANGE);
    op = await startOperator({ namespace: ns });
  });

  afterAll(async () => {
    await op?.stop();
  });

  it('a tenant policy that would widen the admin allow-list is Conflicted, naming the key and the manager; the Ingress is untouched', async () => {
    const before = await getIngress();
    await apply(tenant, policy(ns, 'wide', { ...target, rateLimit: { requestsPerSecond: 20 }, ipAccess: { allow: ['0.0.0.0/0'] } }));
    const p = await reconciled('wide');
    expect(policyCondition(p, 'Conflicted')).toMatchObject({ status: 'True', reason: 'AnnotationOwned' });
    expect(policyCondition(p, 'Conflicted')?.message).toContain(`${ALLOW} (field manager "platform-admin")`);
    expect(policyCondition(p, 'Enforced')).toMatchObject({ status: 'False', reason: 'Conflicted' });
    expect(p.status?.score).toBe(0);
    await op.idle();
    const after = await getIngress();
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.metadata.annotations?.[ALLOW]).toBe(ADMIN_RANGE);
    expect(owners(after, ALLOW)).toEqual(['platform-admin']);
  });

  it('when the policy drops the control, it is enforced and the admin key keeps its value and its owner', async () => {
    await apply(tenant, policy(ns, 'wide', { ...target, rateLimit: { requestsPerSecond: 20 } }));
    const p = await eventually(async () => {
      const current = await reconciled('wide');
      expect(policyCondition(current, 'Enforced')).toMatchObject({ status: 'True' });
      return current;
    });
    expect(policyCondition(p, 'Conflicted')).toBeUndefined();
    const ing = await getIngress();
    expect(ing.metadata.annotations?.['nginx.ingress.kubernetes.io/limit-rps']).toBe('20');
    expect(ing.metadata.annotations?.[ALLOW]).toBe(ADMIN_RANGE);
    expect(owners(ing, ALLOW)).toEqual(['platform-admin']);
  });

  it('once the admin frees the key, the allow-list is the policy\'s, and the rest stays enforced', async () => {
    await apply(tenant, policy(ns, 'wide', { ...target, rateLimit: { requestsPerSecond: 20 }, ipAccess: { allow: ['192.0.2.0/24'] } }));
    const held = await reconciled('wide');
    expect(policyCondition(held, 'Conflicted')).toMatchObject({ reason: 'AnnotationOwned' });
    // Held: the policy's earlier annotations stay as they were (not released), the admin's key too.
    expect((await getIngress()).metadata.annotations?.['nginx.ingress.kubernetes.io/limit-rps']).toBe('20');
    await adminAnnotates(null);
    await eventually(async () => {
      const ing = await getIngress();
      expect(ing.metadata.annotations?.[ALLOW]).toBe('192.0.2.0/24');
      expect(owners(ing, ALLOW)).toEqual(['api-security-operator']);
    }, 20_000);
    await eventually(async () => expect(policyCondition(await reconciled('wide'), 'Enforced')).toMatchObject({ status: 'True' }), 20_000);
  });
});
