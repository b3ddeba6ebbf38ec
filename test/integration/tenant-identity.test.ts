// A hostile tenant with a real identity (issue 13): the token user tenant-dev may write policies, Services,
// Ingresses, ConfigMaps and NetworkPolicies in namespace A only, as a platform grants a team. It tries the
// attacks of the security review through the operator; each is refused by the API server or neutralised
// by the operator, and namespace B, another team's, is byte-for-byte unchanged afterwards.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import { Resources, collectionPath, objectPath, type KubeObject, type ResourceType } from '../../src/k8s/resources.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { ALL_VERBS, apply, clientAs, createNamespace, grantTenant, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const AUTH_URL = 'nginx.ingress.kubernetes.io/auth-url';

describe('a tenant with rights in one namespace, through the operator', () => {
  let admin: KubeClient;
  let tenant: KubeClient;
  let a: string;
  let b: string;
  let op: RunningOperator;
  let before: string[];
  const target = (n: string): Record<string, unknown> => ({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: n }] });
  const cond = (p: Policy | undefined, type: string): { status: string; reason: string; message: string } | undefined => p?.status?.conditions?.find((c) => c.type === type);
  const refusal = (p: Promise<unknown>): Promise<number> => p.then(() => 200, (e: unknown) => (e instanceof ApiError ? e.status : -1));
  const reconciled = (ns: string, name: string): Promise<Policy> =>
    eventually(async () => {
      const p = await getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, name));
      if (!p || p.status?.observedGeneration !== p.metadata.generation) throw new Error(`${name} not reconciled yet`);
      return p;
    }, 20_000);

  /** Every object of namespace B the operator could touch, as name@resourceVersion (any write changes it). */
  async function snapshotOfB(): Promise<string[]> {
    const out: string[] = [];
    for (const r of [Resources.policy, Resources.ingress, Resources.service, Resources.networkPolicy, Resources.configMap] as ResourceType[]) {
      const items = (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(r, b), { verb: 'list' })).items;
      for (const o of items) if (o.metadata.name !== 'kube-root-ca.crt') out.push(`${r.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`);
    }
    return out.sort();
  }

  beforeAll(async () => {
    admin = clientAs('admin');
    tenant = clientAs('tenant');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    a = await createNamespace(admin, 'tenant-a');
    b = await createNamespace(admin, 'tenant-b');
    // What a platform grants a team in its own namespace.
    await grantTenant(admin, a, [
      { apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies'], verbs: ALL_VERBS },
      { apiGroups: [''], resources: ['services', 'configmaps'], verbs: ALL_VERBS },
      { apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'networkpolicies'], verbs: ALL_VERBS },
    ]);
    // Team B's API, protected by its own policy.
    await apply(admin, service(b, 'api'));
    await apply(admin, ingress(b, 'api', 'api'));
    await apply(admin, policy(b, 'api', { ...target('api'), rateLimit: { requestsPerSecond: 5 }, network: { defaultDeny: true } }));
    await apply(tenant, service(a, 'api'));
    await apply(tenant, ingress(a, 'api', 'api'));
    op = await startOperator();
    await eventually(async () => expect(cond(await reconciled(b, 'api'), 'Enforced')).toMatchObject({ status: 'True' }), 20_000);
    await op.idle();
    before = await snapshotOfB();
  });

  afterAll(async () => {
    await op?.stop();
  });

  it('cannot write a policy or anything else in namespace B', async () => {
    expect(await refusal(apply(tenant, policy(b, 'evil', { ...target('api'), network: { defaultDeny: true, allowFrom: [{ ipBlock: { cidr: '0.0.0.0/0' } }] } })))).toBe(403);
    expect(await refusal(tenant.request('GET', collectionPath(Resources.networkPolicy, b), { verb: 'list' }))).toBe(403);
  });

  it.each([
    ['the cloud metadata endpoint', 'http://169.254.169.254/latest/meta-data/'],
    ['the metadata endpoint as a decimal number', 'http://2852039166/'],
    ['loopback as hex', 'http://0x7f000001:10246/configuration/backends'],
    ['the API server', 'https://kubernetes.default.svc/api'],
  ])('an auth URL aimed at %s is refused at admission', async (_what, url) => {
    expect(await refusal(apply(tenant, policy(a, 'ssrf', { ...target('api'), authentication: { external: { authURL: url } } })))).toBe(422);
  });

  it.each([
    ['a loopback port of the shared ingress controller', 'ssrf-loopback', { external: { authURL: 'http://127.0.0.1:10246/configuration/backends' } }],
    ["team B's pods by address", 'ssrf-pod', { external: { authURL: 'http://10.244.1.7:8080/admin' } }],
    ['an open redirect through signinURL', 'redirect', { oidc: { issuerURL: 'https://id.example.com', authURL: 'https://auth.example.com/oauth2/auth', signinURL: 'https://phish.example.net/login' } }],
  ])('%s is admitted, then refused by the operator: nothing written', async (_what, name, authentication) => {
    await apply(tenant, ingress(a, name, 'api'));
    await apply(tenant, policy(a, name, { ...target(name), authentication }));
    const p = await reconciled(a, name);
    expect(cond(p, 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(cond(p, 'Enforced')).toMatchObject({ status: 'False', reason: 'OutboundURLRefused' });
    const ing = await admin.request<KubeObject>('GET', objectPath(Resources.ingress, a, name), { verb: 'get' });
    expect(ing.metadata.annotations?.[AUTH_URL]).toBeUndefined();
  });

  it('cannot reach past namespace A with a target reference (targets name objects of the policy namespace)', async () => {
    await apply(tenant, policy(a, 'reach', { targetRefs: [{ group: '', kind: 'Service', name: 'api' }, { group: 'networking.k8s.io', kind: 'Ingress', name: 'missing' }], network: { defaultDeny: true } }));
    const p = await reconciled(a, 'reach');
    expect(p.status?.targets?.find((t) => t.name === 'missing')).toMatchObject({ state: 'NotFound' });
  });

  it('a world-open NetworkPolicy peer is not reported as passing', async () => {
    await apply(tenant, policy(a, 'open', { targetRefs: [{ group: '', kind: 'Service', name: 'api' }], network: { defaultDeny: true, allowFrom: [{ ipBlock: { cidr: '0.0.0.0/0' } }, { namespaceSelector: {} }] } }));
    const p = await eventually(async () => {
      const x = await reconciled(a, 'open');
      expect(x.status?.controls?.find((c) => c.control === 'NetworkIsolation')).toBeDefined();
      return x;
    });
    expect(p.status?.controls?.find((c) => c.control === 'NetworkIsolation')?.result).not.toBe('Pass');
  });

  it('a squatted generated name is not taken over, and the squatter learns nothing of it in advance', async () => {
    // Names carry a hash of the policy UID: the tenant can only guess; the guess stays its own object.
    await apply(tenant, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'apisec-squat-squat', namespace: a }, spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] } } as KubeObject);
    await apply(tenant, service(a, 'squat'));
    await apply(tenant, policy(a, 'squat', { targetRefs: [{ group: '', kind: 'Service', name: 'squat' }], network: { defaultDeny: true } }));
    await eventually(async () => expect(cond(await reconciled(a, 'squat'), 'Enforced')).toMatchObject({ status: 'True' }), 20_000);
    const guess = await admin.request<KubeObject & { metadata: { ownerReferences?: unknown[] } }>('GET', objectPath(Resources.networkPolicy, a, 'apisec-squat-squat'), { verb: 'get' });
    expect(guess.metadata.ownerReferences).toBeUndefined();
  });

  it("leaves every object of namespace B as it was (resourceVersions before and after)", async () => {
    await op.idle();
    expect(await snapshotOfB()).toEqual(before);
  });
});
