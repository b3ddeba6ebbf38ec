// ClusterApiSecurityPolicy baselines against a real API server: tightening is kept, loosening is a
// reported violation with the floor enforced instead, floors a policy omits are supplied, provenance
// is in status; a baseline that selects nothing and conflicting baselines are reported with reasons,
// and none of it blocks other policies.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
type Baseline = KubeObject & { status?: { conditions?: { type: string; status: string; reason: string; message: string }[]; selectedNamespaces?: number; policies?: number; violations?: number } };
const N = 'nginx.ingress.kubernetes.io/';

describe('baselines', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;
  const tier = `prod-${process.pid}`;
  const baselineName = `floor-${process.pid}`;

  const getPolicy = (name: string): Promise<Policy | undefined> => getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, name));
  const getBaseline = (name: string): Promise<Baseline | undefined> => getOrUndefined<Baseline>(admin, objectPath(Resources.baseline, undefined, name));
  const cond = (p: Policy | Baseline | undefined, type: string): { status: string; reason: string; message: string } | undefined =>
    (p?.status?.conditions as { type: string; status: string; reason: string; message: string }[] | undefined)?.find((c) => c.type === type);
  const annotations = async (name: string): Promise<Record<string, string>> =>
    (await admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, name), { verb: 'get' })).metadata.annotations ?? {};
  const baseline = (name: string, selector: Record<string, unknown>, floors: Record<string, unknown>): KubeObject => ({
    apiVersion: 'apisec.dev/v1alpha1',
    kind: 'ClusterApiSecurityPolicy',
    metadata: { name },
    spec: { namespaceSelector: selector, floors },
  });
  const target = (n: string): Record<string, unknown> => ({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: n }] });

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'base', { tier });
    for (const n of ['tight', 'loose', 'bare']) {
      await apply(admin, service(ns, n));
      await apply(admin, ingress(ns, n, n));
    }
    await apply(
      admin,
      baseline(baselineName, { matchLabels: { tier } }, {
        tls: { httpsOnly: true },
        rateLimit: { requestsPerSecond: 100 },
        requestLimits: { maxBodySize: '1Mi' },
        waf: { enabled: true, mode: 'Block' },
        network: { defaultDeny: true },
      }),
    );
    await apply(admin, policy(ns, 'tight', { ...target('tight'), rateLimit: { requestsPerSecond: 10 }, requestLimits: { maxBodySize: '64Ki' } }));
    await apply(admin, policy(ns, 'loose', { ...target('loose'), tls: { httpsOnly: false }, rateLimit: { requestsPerSecond: 1000 }, requestLimits: { maxBodySize: '10Mi' }, waf: { enabled: false } }));
    await apply(admin, policy(ns, 'bare', target('bare')));
    // Cluster-wide, as baselines are: integration files run one at a time (jest.config.js maxWorkers).
    op = await startOperator();
  });

  afterAll(async () => {
    // Baselines are cluster-scoped: remove them so no later test's operator sees them.
    for (const b of [baselineName, `nothing-${process.pid}`, `auth-a-${process.pid}`, `auth-b-${process.pid}`]) {
      await admin.request('DELETE', objectPath(Resources.baseline, undefined, b), { verb: 'delete' }).catch(() => undefined);
    }
    await op?.idle().catch(() => undefined);
    await op?.stop();
  });

  it('keeps a policy that tightens the floors, and supplies the floors it omits', async () => {
    await eventually(async () => {
      const a = await annotations('tight');
      expect(a[`${N}limit-rps`]).toBe('10');
      expect(a[`${N}proxy-body-size`]).toBe('64k');
      expect(a[`${N}enable-modsecurity`]).toBe('true'); // from the baseline
      expect(a[`${N}force-ssl-redirect`]).toBe('true'); // from the baseline
    });
    // Status is written after the annotations: wait for it too.
    await eventually(async () => {
      const p = await getPolicy('tight');
      expect(cond(p, 'WithinBaseline')).toMatchObject({ status: 'True', reason: 'WithinBaseline' });
      expect(p?.status?.effective).toContainEqual({ field: 'waf', value: 'Block', source: `ClusterApiSecurityPolicy/${baselineName}` });
      expect(p?.status?.effective).toContainEqual({ field: 'rateLimit.rate', value: '10', source: 'ApiSecurityPolicy/tight' });
    });
  });

  it('reports a policy that loosens a floor and enforces the floor instead', async () => {
    await eventually(async () => {
      const a = await annotations('loose');
      expect(a[`${N}limit-rps`]).toBe('100');
      expect(a[`${N}proxy-body-size`]).toBe('1m');
      expect(a[`${N}enable-modsecurity`]).toBe('true');
      expect(a[`${N}force-ssl-redirect`]).toBe('true');
    });
    const p = await eventually(async () => {
      const x = await getPolicy('loose');
      expect(cond(x, 'WithinBaseline')).toMatchObject({ status: 'False', reason: 'LoosensBaseline' });
      return x;
    });
    const w = cond(p, 'WithinBaseline');
    for (const field of ['tls.httpsOnly', 'rateLimit.rate', 'requestLimits.maxBodySize', 'waf']) expect(w?.message).toContain(field);
    expect(cond(p, 'Compliant')).toMatchObject({ status: 'False' });
    expect(p?.status?.violations).toBeGreaterThanOrEqual(4);
    expect(p?.status?.effective).toContainEqual({ field: 'rateLimit.rate', value: '100', source: `ClusterApiSecurityPolicy/${baselineName}` });
  });

  it('shows in the baseline\'s status what it selects and who loosens it', async () => {
    await eventually(async () => {
      const b = await getBaseline(baselineName);
      expect(cond(b, 'Ready')).toMatchObject({ status: 'True', reason: 'Selecting' });
      expect(b?.status?.selectedNamespaces).toBe(1);
      expect(b?.status?.policies).toBe(3);
      expect(b?.status?.violations).toBe(1);
    });
  });

  it('reports a baseline that selects nothing', async () => {
    await apply(admin, baseline(`nothing-${process.pid}`, { matchLabels: { tier: 'no-such-tier' } }, { waf: { enabled: true } }));
    await eventually(async () => expect(cond(await getBaseline(`nothing-${process.pid}`), 'Ready')).toMatchObject({ status: 'False', reason: 'SelectsNothing' }));
  });

  it('reports conflicting baselines on both sides without blocking the policies', async () => {
    await apply(admin, baseline(`auth-a-${process.pid}`, { matchLabels: { tier } }, { authentication: { external: { authURL: 'http://authz.a/check' } } }));
    await apply(admin, baseline(`auth-b-${process.pid}`, { matchLabels: { tier } }, { authentication: { apiKey: { authURL: 'http://keys.b/check' } } }));
    await eventually(async () => {
      const p = await getPolicy('bare');
      expect(cond(p, 'BaselinesConflict')).toMatchObject({ status: 'True', reason: 'ConflictingBaselines' });
      expect(cond(await getBaseline(`auth-b-${process.pid}`), 'Conflicted')).toMatchObject({ status: 'True' });
      // The older baseline's method applies; the policy is still enforced.
      expect((await annotations('bare'))[`${N}auth-url`]).toBe('http://authz.a/check');
      expect(cond(p, 'Enforced')).toMatchObject({ status: 'True' });
    }, 20_000);
  });

  it('follows namespace labels: unselected, the policy is its own again', async () => {
    await admin.request('PATCH', objectPath(Resources.namespace, undefined, ns), {
      verb: 'patch',
      body: { metadata: { labels: { tier: null } } },
      contentType: 'application/merge-patch+json',
    });
    await eventually(async () => {
      expect((await annotations('loose'))[`${N}limit-rps`]).toBe('1000');
      const p = await getPolicy('loose');
      expect(cond(p, 'WithinBaseline')).toBeUndefined();
      expect(p?.status?.effective).toBeUndefined();
    }, 20_000);
    await eventually(async () => expect(cond(await getBaseline(baselineName), 'Ready')).toMatchObject({ status: 'False', reason: 'SelectsNothing' }));
  });
});
