// Status you can trust, against a real API server and the running operator: Audit mode is never
// Compliant and a baseline can require Enforce; an explicit provider the Ingress's class does not serve
// is refused, not written; what nothing enforces is not Pass; the schema refuses values a data plane
// would refuse (the CEL bound on sizes runs in the real API server).
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const N = 'nginx.ingress.kubernetes.io/';

describe('honest status', () => {
  let admin: KubeClient;
  let ns: string;
  let plain: string;
  let op: RunningOperator;
  const tier = `enforce-${process.pid}`;
  const baselineName = `enforce-floor-${process.pid}`;
  const target = (n: string): Record<string, unknown> => ({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: n }] });
  const getPolicy = (n: string, namespace = ns): Promise<Policy | undefined> => getOrUndefined<Policy>(admin, objectPath(Resources.policy, namespace, n));
  const cond = (p: Policy | undefined, type: string): { status: string; reason: string; message: string } | undefined => p?.status?.conditions?.find((c) => c.type === type);
  const control = (p: Policy | undefined, name: string): NonNullable<ApiSecurityPolicyStatus['controls']>[number] | undefined => p?.status?.controls?.find((c) => c.control === name);
  const annotations = async (name: string, namespace = ns): Promise<Record<string, string>> =>
    (await admin.request<KubeObject>('GET', objectPath(Resources.ingress, namespace, name), { verb: 'get' })).metadata.annotations ?? {};
  const reconciled = async (name: string, namespace = ns): Promise<Policy> =>
    eventually(async () => {
      const p = await getPolicy(name, namespace);
      if (!p || p.status?.observedGeneration !== p.metadata.generation) throw new Error(`${name} not reconciled yet`);
      return p;
    }, 20_000);

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'honest', { tier });
    plain = await createNamespace(admin, 'honest-plain');
    for (const n of ['audited', 'mismatch', 'delegated']) {
      await apply(admin, service(ns, n));
      await apply(admin, ingress(ns, n, n));
    }
    await apply(admin, service(plain, 'rollout'));
    await apply(admin, ingress(plain, 'rollout', 'rollout'));
    await apply(admin, {
      apiVersion: 'apisec.dev/v1alpha1',
      kind: 'ClusterApiSecurityPolicy',
      metadata: { name: baselineName },
      spec: { namespaceSelector: { matchLabels: { tier } }, floors: { mode: 'Enforce', rateLimit: { requestsPerSecond: 50 } } },
    });
    const rules = { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/products'] }] };
    await apply(admin, policy(ns, 'audited', { ...target('audited'), mode: 'Audit', tls: { httpsOnly: true } }));
    await apply(admin, policy(ns, 'mismatch', { ...target('mismatch'), provider: 'traefik', tls: { httpsOnly: true } }));
    await apply(admin, policy(ns, 'delegated', { ...target('delegated'), authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'http://oauth2-proxy.auth.svc/oauth2/auth' } }, authorization: rules }));
    await apply(admin, policy(plain, 'rollout', { ...target('rollout'), mode: 'Audit', tls: { httpsOnly: true }, rateLimit: { requestsPerSecond: 5 } }));
    op = await startOperator();
  });

  afterAll(async () => {
    await admin.request('DELETE', objectPath(Resources.baseline, undefined, baselineName), { verb: 'delete' }).catch(() => undefined);
    await op?.idle().catch(() => undefined);
    await op?.stop();
  });

  it('Audit mode writes nothing and is never Compliant: score 0 now, auditScore for later', async () => {
    const p = await reconciled('rollout', plain);
    expect(cond(p, 'Compliant')).toMatchObject({ status: 'Unknown', reason: 'AuditMode' });
    expect(cond(p, 'Enforced')).toMatchObject({ status: 'False', reason: 'AuditMode' });
    expect(p.status?.score).toBe(0);
    expect(p.status?.auditScore).toBeGreaterThan(0);
    expect(Object.keys(await annotations('rollout', plain)).filter((k) => k.startsWith(N))).toEqual([]);
  });

  it('a baseline requiring Enforce: an Audit policy is a violation, and is enforced anyway', async () => {
    await eventually(async () => expect((await annotations('audited'))[`${N}force-ssl-redirect`]).toBe('true'), 20_000);
    const p = await eventually(async () => {
      const x = await reconciled('audited');
      expect(cond(x, 'WithinBaseline')).toMatchObject({ status: 'False', reason: 'LoosensBaseline' });
      return x;
    });
    expect(cond(p, 'WithinBaseline')?.message).toContain('mode');
    expect(cond(p, 'Compliant')).toMatchObject({ status: 'False' });
    expect(cond(p, 'Enforced')).toMatchObject({ status: 'True' });
    expect((await annotations('audited'))[`${N}limit-rps`]).toBe('50');
  });

  it('an explicit provider the class does not serve is refused: ProviderMismatch, nothing written, never Pass', async () => {
    const p = await eventually(async () => {
      const x = await reconciled('mismatch');
      expect(cond(x, 'Enforced')).toMatchObject({ status: 'False', reason: 'ProviderMismatch' });
      return x;
    });
    expect(p.status?.targets).toContainEqual(expect.objectContaining({ kind: 'Ingress', name: 'mismatch', state: 'Unsupported' }));
    expect(p.status?.score).toBe(0);
    expect(cond(p, 'Compliant')?.status).not.toBe('True');
    const a = await annotations('mismatch');
    expect(Object.keys(a).filter((k) => k.startsWith('traefik.') || k.startsWith(N))).toEqual([]);
  });

  it('authorization rules nothing evaluates Fail; a user auth endpoint is Delegated, a Warn', async () => {
    const p = await eventually(async () => {
      const x = await reconciled('delegated');
      expect(control(x, 'Authorization')?.result).toBe('Fail');
      return x;
    });
    expect(control(p, 'Authorization')?.message).toContain('not enforced');
    expect(control(p, 'Authentication')).toMatchObject({ result: 'Warn', fidelity: 'Delegated' });
    expect(control(p, 'Authentication')?.message).toContain('http://oauth2-proxy.auth.svc/oauth2/auth decides');
    expect(cond(p, 'Compliant')).toMatchObject({ status: 'False', reason: 'ControlsFailing' });
  });

  it.each([
    ['a body size above 64Gi', { requestLimits: { maxBodySize: '9999999999Gi' } }, 'must be at most 64Gi'],
    ['65Gi', { requestLimits: { maxBodySize: '65Gi' } }, 'must be at most 64Gi'],
    ['69G', { requestLimits: { maxBodySize: '69G' } }, 'must be at most 64Gi'],
    ['65536 connections', { rateLimit: { requestsPerSecond: 1, maxConnections: 65536 } }, 'maxConnections'],
    ['an auth answer that sets Authorization on the request', { authentication: { external: { authURL: 'http://authz.auth.svc/check', responseHeaders: ['X-User', 'AUTHORIZATION'] } } }, 'must not be Host, Authorization'],
  ])('the API server refuses %s at admission', async (_name, fragment, message) => {
    const err = await apply(admin, policy(ns, 'too-big', { ...target('delegated'), ...fragment })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect((err as Error).message).toContain(message);
  });

  it('accepts the bounds themselves (64Gi, 68G, 65535 connections)', async () => {
    for (const [i, fragment] of [{ requestLimits: { maxBodySize: '64Gi' } }, { requestLimits: { maxBodySize: '68G' } }, { rateLimit: { requestsPerSecond: 1, maxConnections: 65535 } }].entries()) {
      await apply(admin, policy(plain, `at-bound-${i}`, { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'absent' }], mode: 'Audit', ...fragment }));
    }
  });
});
