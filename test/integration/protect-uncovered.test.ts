// protectUncovered against a real API server and the running operator: a baseline writes its floors onto
// an Ingress no policy targets (marked apisec.dev/baseline), names the Ingresses it cannot protect, hands
// an Ingress over to a policy that targets it and takes it back when the policy goes, and releases
// everything when it stops protecting. A baseline that only selects the namespace covers nothing.
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Baseline = KubeObject & { status?: { conditions?: { type: string; status: string; reason: string; message: string }[]; protectedAPIs?: number; unprotectable?: number } };
const N = 'nginx.ingress.kubernetes.io/';

describe('protectUncovered', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;
  const tier = `protect-${process.pid}`;
  const name = `protect-floor-${process.pid}`;
  const baseline = (protectUncovered: boolean): KubeObject => ({
    apiVersion: 'apisec.dev/v1alpha1',
    kind: 'ClusterApiSecurityPolicy',
    metadata: { name },
    spec: { namespaceSelector: { matchLabels: { tier } }, protectUncovered, floors: { tls: { httpsOnly: true }, rateLimit: { requestsPerSecond: 30 } } },
  });
  const annotations = async (n: string): Promise<Record<string, string>> => (await admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, n), { verb: 'get' })).metadata.annotations ?? {};
  const getBaseline = (): Promise<Baseline | undefined> => getOrUndefined<Baseline>(admin, objectPath(Resources.baseline, undefined, name));
  const cond = (b: Baseline | undefined, type: string) => b?.status?.conditions?.find((c) => c.type === type);

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'protect', { tier });
    await apply(admin, service(ns, 'orphan'));
    await apply(admin, ingress(ns, 'orphan', 'orphan'));
    await apply(admin, ingress(ns, 'edge', 'orphan', 'traefik'));
    await apply(admin, baseline(true));
    op = await startOperator();
  });

  afterAll(async () => {
    await admin.request('DELETE', objectPath(Resources.baseline, undefined, name), { verb: 'delete' }).catch(() => undefined);
    await op?.idle().catch(() => undefined);
    await op?.stop();
  });

  it('writes the floors onto an Ingress without a policy, and names the one it cannot protect', async () => {
    await eventually(async () => {
      const a = await annotations('orphan');
      expect(a).toMatchObject({ [`${N}force-ssl-redirect`]: 'true', [`${N}limit-rps`]: '30', 'apisec.dev/baseline': name });
      expect(a['apisec.dev/policy']).toBeUndefined();
    }, 20_000);
    await eventually(async () => {
      const b = await getBaseline();
      expect(b?.status).toMatchObject({ protectedAPIs: 1, unprotectable: 1 });
      expect(cond(b, 'Protecting')).toMatchObject({ status: 'False', reason: 'Unprotectable' });
      expect(cond(b, 'Protecting')?.message).toContain(`${ns}/edge`);
    });
    expect(Object.keys(await annotations('edge')).filter((k) => k.startsWith('traefik.') || k.startsWith('apisec.dev'))).toEqual([]);
  });

  it('hands the Ingress to a policy that targets it, and takes it back when the policy is deleted', async () => {
    await apply(admin, policy(ns, 'own', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'orphan' }], rateLimit: { requestsPerSecond: 5 } }));
    await eventually(async () => {
      const a = await annotations('orphan');
      expect(a).toMatchObject({ [`${N}limit-rps`]: '5', 'apisec.dev/policy': 'own' });
      expect(a['apisec.dev/baseline']).toBeUndefined();
    }, 20_000);
    await eventually(async () => expect((await getBaseline())?.status?.protectedAPIs).toBe(0));
    await admin.request('DELETE', objectPath(Resources.policy, ns, 'own'), { verb: 'delete' });
    await eventually(async () => {
      const a = await annotations('orphan');
      expect(a).toMatchObject({ [`${N}limit-rps`]: '30', 'apisec.dev/baseline': name });
      expect(a['apisec.dev/policy']).toBeUndefined();
    }, 20_000);
  });

  it('releases what it wrote when it stops protecting; the Ingress is uncovered again', async () => {
    await apply(admin, baseline(false));
    await eventually(async () => {
      const a = await annotations('orphan');
      expect(Object.keys(a).filter((k) => k.startsWith(N) || k.startsWith('apisec.dev'))).toEqual([]);
    }, 20_000);
    await eventually(async () => {
      const b = await getBaseline();
      expect(cond(b, 'Protecting')).toBeUndefined();
      expect(b?.status?.protectedAPIs).toBeUndefined();
    });
  });
});
