// The controller against a real API server: create → artifacts and status; update → converges;
// delete → annotations and owned objects gone, finalizer released; late targets; conflicts; other
// managers' annotations untouched.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { apply, clientAs, createNamespace, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';
import { ingress, policy, service } from '../support/fixtures.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const NGINX = 'nginx.ingress.kubernetes.io/';

const fullSpec = (ingressName: string, rps = 20): Record<string, unknown> => ({
  targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: ingressName }],
  tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000 } },
  authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'https://auth.example.com/oauth2/auth', signinURL: 'https://auth.example.com/oauth2/start' } },
  authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/*'] }] },
  rateLimit: { requestsPerSecond: rps, burst: rps * 2 },
  ipAccess: { allow: ['10.0.0.0/8'] },
  requestLimits: { maxBodySize: '1Mi' },
  network: { defaultDeny: true },
  logging: { accessLog: true },
});

export const getPolicy = (c: KubeClient, ns: string, name: string): Promise<Policy | undefined> => getOrUndefined<Policy>(c, objectPath(Resources.policy, ns, name));
const getIngress = (c: KubeClient, ns: string, name: string): Promise<KubeObject> => c.request<KubeObject>('GET', objectPath(Resources.ingress, ns, name), { verb: 'get' });
const condition = (p: Policy | undefined, type: string): { status: string; reason: string; message: string } | undefined =>
  p?.status?.conditions?.find((c) => c.type === type);
const listNetworkPolicies = async (c: KubeClient, ns: string): Promise<KubeObject[]> =>
  (await c.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.networkPolicy, ns), { verb: 'list' })).items;

describe('ApiSecurityPolicy controller', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'ctrl');
    op = await startOperator({ namespace: ns });
  });

  afterAll(async () => {
    await op?.stop();
  });

  it('enforces a new policy: annotations, NetworkPolicy, finalizer and status within seconds', async () => {
    await apply(admin, service(ns, 'shop'));
    await apply(admin, ingress(ns, 'shop', 'shop'));
    await apply(admin, policy(ns, 'shop-api', fullSpec('shop')));

    const ing = await eventually(async () => {
      const i = await getIngress(admin, ns, 'shop');
      expect(i.metadata.annotations?.[`${NGINX}limit-rps`]).toBe('20');
      return i;
    });
    expect(ing.metadata.annotations).toMatchObject({
      'apisec.dev/policy': 'shop-api',
      [`${NGINX}force-ssl-redirect`]: 'true',
      [`${NGINX}auth-url`]: 'https://auth.example.com/oauth2/auth',
      [`${NGINX}auth-signin`]: 'https://auth.example.com/oauth2/start',
      [`${NGINX}limit-burst-multiplier`]: '2',
      [`${NGINX}allowlist-source-range`]: '10.0.0.0/8',
      [`${NGINX}proxy-body-size`]: '1m',
    });
    expect(Object.keys(ing.metadata.annotations ?? {}).some((k) => k.endsWith('-snippet'))).toBe(false);

    const nps = await eventually(async () => {
      const l = await listNetworkPolicies(admin, ns);
      expect(l).toHaveLength(1);
      return l;
    });
    const np = nps[0] as KubeObject & { spec: { podSelector: unknown; ingress: { ports: unknown[] }[] } };
    expect(np.spec.podSelector).toEqual({ matchLabels: { app: 'shop' } });
    expect(np.spec.ingress[0]?.ports).toEqual([{ protocol: 'TCP', port: 8080 }]);
    expect(np.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ApiSecurityPolicy', name: 'shop-api', controller: true });

    const p = await eventually(async () => {
      const x = await getPolicy(admin, ns, 'shop-api');
      expect(condition(x, 'Enforced')?.status).toBe('True');
      return x;
    });
    expect(p?.metadata.finalizers).toContain('apisec.dev/cleanup');
    expect(p?.status?.observedGeneration).toBe(p?.metadata.generation);
    expect(condition(p, 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(p?.status?.score).toBeGreaterThan(50);
    expect(p?.status?.controls?.map((c) => c.control)).toContain('RateLimit');
    expect(p?.status?.controls?.find((c) => c.control === 'RateLimit')).toMatchObject({ result: 'Pass', enforcement: 'Enforced', fidelity: 'Approximated' });
    expect(p?.status?.targets).toEqual([{ kind: 'Ingress', name: 'shop', state: 'Enforced', provider: 'ingress-nginx' }]);
  });

  it('converges on update and keeps other managers\' annotations untouched', async () => {
    // Someone else's annotation on the same Ingress, written by its own field manager.
    await apply(admin, { ...ingress(ns, 'shop', 'shop'), metadata: { name: 'shop', namespace: ns, annotations: { 'team.example.com/owner': 'payments', [`${NGINX}rewrite-target`]: '/' } } }, 'team-tool');
    await apply(admin, policy(ns, 'shop-api', { ...fullSpec('shop', 50), ipAccess: undefined }));
    const ing = await eventually(async () => {
      const i = await getIngress(admin, ns, 'shop');
      expect(i.metadata.annotations?.[`${NGINX}limit-rps`]).toBe('50');
      expect(i.metadata.annotations?.[`${NGINX}allowlist-source-range`]).toBeUndefined();
      return i;
    });
    expect(ing.metadata.annotations?.['team.example.com/owner']).toBe('payments');
    expect(ing.metadata.annotations?.[`${NGINX}rewrite-target`]).toBe('/');
    const p = await eventually(async () => {
      const x = await getPolicy(admin, ns, 'shop-api');
      expect(x?.status?.observedGeneration).toBe(x?.metadata.generation);
      return x;
    });
    expect(p?.status?.controls?.find((c) => c.control === 'IPAccess')?.result).toBe('NotApplicable');
  });

  it('reports a missing target and converges as soon as it appears', async () => {
    await apply(admin, policy(ns, 'late', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'late' }], rateLimit: { requestsPerMinute: 600 } }));
    await eventually(async () => {
      const p = await getPolicy(admin, ns, 'late');
      expect(condition(p, 'Enforced')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
      expect(p?.status?.targets?.[0]?.state).toBe('NotFound');
    });
    await apply(admin, ingress(ns, 'late', 'late-svc'));
    await eventually(async () => {
      const i = await getIngress(admin, ns, 'late');
      expect(i.metadata.annotations?.[`${NGINX}limit-rpm`]).toBe('600');
      const p = await getPolicy(admin, ns, 'late');
      expect(condition(p, 'Enforced')).toMatchObject({ status: 'True', reason: 'Enforced' });
    });
  });

  it('gives a shared target to the older policy and marks the other Conflicted', async () => {
    await apply(admin, policy(ns, 'zz-second', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'shop' }], rateLimit: { requestsPerSecond: 1 } }));
    await eventually(async () => {
      const p = await getPolicy(admin, ns, 'zz-second');
      expect(condition(p, 'Conflicted')).toMatchObject({ status: 'True', reason: 'Conflicted' });
      expect(condition(p, 'Accepted')).toMatchObject({ status: 'False', reason: 'Conflicted' });
      expect(condition(p, 'Conflicted')?.message).toContain('shop-api');
    });
    const i = await getIngress(admin, ns, 'shop');
    expect(i.metadata.annotations?.[`${NGINX}limit-rps`]).toBe('50');
    expect(i.metadata.annotations?.['apisec.dev/policy']).toBe('shop-api');
  });

  it('reports an unknown ingress class with a reason, without retrying hot', async () => {
    await apply(admin, ingress(ns, 'odd', 'odd', 'mystery'));
    await apply(admin, policy(ns, 'odd', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'odd' }], rateLimit: { requestsPerSecond: 5 } }));
    await eventually(async () => {
      const p = await getPolicy(admin, ns, 'odd');
      expect(condition(p, 'Enforced')).toMatchObject({ status: 'False', reason: 'UnknownIngressClass' });
      expect(condition(p, 'Enforced')?.message).toContain('mystery');
    });
    const before = op.reconciles;
    await new Promise((r) => setTimeout(r, 2000));
    expect(op.reconciles - before).toBeLessThan(5);
    const i = await getIngress(admin, ns, 'odd');
    expect(Object.keys(i.metadata.annotations ?? {})).toEqual([]);
  });

  it('Audit mode evaluates and reports but writes nothing to targets, and releases what Enforce wrote', async () => {
    await apply(admin, service(ns, 'audited'));
    await apply(admin, ingress(ns, 'audited', 'audited'));
    await apply(admin, policy(ns, 'audited', { ...fullSpec('audited'), mode: 'Enforce' }));
    await eventually(async () => expect((await getIngress(admin, ns, 'audited')).metadata.annotations?.[`${NGINX}limit-rps`]).toBe('20'));
    await apply(admin, policy(ns, 'audited', { ...fullSpec('audited'), mode: 'Audit' }));
    await eventually(async () => {
      const i = await getIngress(admin, ns, 'audited');
      expect(Object.keys(i.metadata.annotations ?? {}).filter((k) => k.startsWith(NGINX) || k.startsWith('apisec.dev'))).toEqual([]);
      const nps = (await listNetworkPolicies(admin, ns)).filter((n) => n.metadata.name.includes('audited'));
      expect(nps).toEqual([]);
      const p = await getPolicy(admin, ns, 'audited');
      expect(condition(p, 'Enforced')).toMatchObject({ status: 'False', reason: 'AuditMode' });
      expect(p?.status?.controls?.every((c) => c.enforcement === 'Audit')).toBe(true);
      // Nothing is protected in Audit mode; what enforcing would score is beside it.
      expect(p?.status?.score).toBe(0);
      expect(p?.status?.auditScore).toBeGreaterThan(50);
      expect(condition(p, 'Compliant')).toMatchObject({ status: 'Unknown', reason: 'AuditMode' });
    });
  });

  it('generates the sidecar ConfigMap and removes it with the policy', async () => {
    await apply(admin, service(ns, 'side'));
    await apply(admin, policy(ns, 'side', { targetRefs: [{ group: '', kind: 'Service', name: 'side' }], rateLimit: { requestsPerSecond: 3 }, sidecar: { appPort: 3000 } }));
    const cm = await eventually(async () => {
      const c = await getOrUndefined<KubeObject & { data: Record<string, string> }>(admin, objectPath(Resources.configMap, ns, 'apisec-side-sidecar'));
      expect(c?.data['nginx.conf']).toContain('rate=3r/s');
      return c;
    });
    expect(cm?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ApiSecurityPolicy', name: 'side' });
    await eventually(async () => {
      const p = await getPolicy(admin, ns, 'side');
      expect(p?.status?.generated).toContainEqual({ apiVersion: 'v1', kind: 'ConfigMap', name: 'apisec-side-sidecar' });
      expect(p?.status?.controls?.find((c) => c.control === 'RateLimit')?.message).toContain('sidecar');
    });
    await admin.request('DELETE', objectPath(Resources.policy, ns, 'side'), { verb: 'delete' });
    await eventually(async () => expect(await getOrUndefined(admin, objectPath(Resources.configMap, ns, 'apisec-side-sidecar'))).toBeUndefined());
  });

  it('deletes cleanly: annotations released, owned objects deleted, finalizer released', async () => {
    await admin.request('DELETE', objectPath(Resources.policy, ns, 'shop-api'), { verb: 'delete' });
    await eventually(async () => {
      expect(await getPolicy(admin, ns, 'shop-api')).toBeUndefined();
      const i = await getIngress(admin, ns, 'shop');
      // zz-second inherits the Ingress now that the older policy is gone.
      expect(i.metadata.annotations?.['apisec.dev/policy']).toBe('zz-second');
      expect(i.metadata.annotations?.[`${NGINX}limit-rps`]).toBe('1');
      expect(i.metadata.annotations?.[`${NGINX}auth-url`]).toBeUndefined();
      expect(i.metadata.annotations?.['team.example.com/owner']).toBe('payments');
      const nps = (await listNetworkPolicies(admin, ns)).filter((n) => n.metadata.labels?.['apisec.dev/policy'] === 'shop-api');
      expect(nps).toEqual([]);
    });
    await admin.request('DELETE', objectPath(Resources.policy, ns, 'zz-second'), { verb: 'delete' });
    await eventually(async () => {
      expect(await getPolicy(admin, ns, 'zz-second')).toBeUndefined();
      const i = await getIngress(admin, ns, 'shop');
      expect(Object.keys(i.metadata.annotations ?? {}).sort()).toEqual([`${NGINX}rewrite-target`, 'team.example.com/owner']);
    });
  });
});
