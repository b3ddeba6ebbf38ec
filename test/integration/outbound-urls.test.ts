// Outbound URLs (issue 13, finding 1: SSRF through authURL, open redirect through signinURL), against the
// real API server and the running operator. The CRD's CEL refuses the hosts no setting may allow (numeric
// forms, metadata, "this network", the API server's names; IPv6 literals by pattern); the operator refuses
// the rest (IP literals, loopback, hosts off the allow-lists) with Accepted=False and writes nothing.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import { parseSpec } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { defaultSettings } from '../../src/render/types.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';
import { HIDDEN_HOST_URLS } from '../support/outbound.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const AUTH_URL = 'nginx.ingress.kubernetes.io/auth-url';
const AUTH_SIGNIN = 'nginx.ingress.kubernetes.io/auth-signin';


describe('outbound URLs of policies', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;
  const tier = `outbound-${process.pid}`;
  const baselineName = `outbound-hosts-${process.pid}`;
  const target = (n: string): Record<string, unknown> => ({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: n }] });
  const external = (authURL: string): Record<string, unknown> => ({ authentication: { external: { authURL } } });
  const getPolicy = (n: string): Promise<Policy | undefined> => getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, n));
  const accepted = (p: Policy | undefined): { status: string; reason: string; message: string } | undefined => p?.status?.conditions?.find((c) => c.type === 'Accepted');
  const annotations = async (name: string): Promise<Record<string, string>> =>
    (await admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, name), { verb: 'get' })).metadata.annotations ?? {};
  const reconciled = (name: string): Promise<Policy> =>
    eventually(async () => {
      const p = await getPolicy(name);
      if (!p || p.status?.observedGeneration !== p.metadata.generation) throw new Error(`${name} not reconciled yet`);
      return p;
    }, 20_000);

  /** Creates an Ingress and a policy on it, and waits for the operator's verdict. */
  async function verdict(name: string, spec: Record<string, unknown>): Promise<{ policy: Policy; annotations: Record<string, string> }> {
    await apply(admin, ingress(ns, name, 'api'));
    await apply(admin, policy(ns, name, { ...target(name), ...spec }));
    const p = await reconciled(name);
    return { policy: p, annotations: await annotations(name) };
  }

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'outbound', { tier });
    await apply(admin, service(ns, 'api'));
    await apply(admin, {
      apiVersion: 'apisec.dev/v1alpha1',
      kind: 'ClusterApiSecurityPolicy',
      metadata: { name: baselineName },
      spec: { namespaceSelector: { matchLabels: { tier } }, floors: { authHosts: ['keys.example.net'] } },
    });
    op = await startOperator({ settings: { ...defaultSettings, authHosts: ['*.auth.svc.cluster.local', '127.0.0.9', 'login.example.com'] } });
  });

  afterAll(async () => {
    await op?.stop();
    await admin.request('DELETE', `/apis/apisec.dev/v1alpha1/clusterapisecuritypolicies/${baselineName}`, { verb: 'delete' }).catch(() => undefined);
  });

  it.each(HIDDEN_HOST_URLS)('the API server refuses authURL %s, and the operator\'s schema agrees', async (url) => {
    const spec = { ...target('api'), ...external(url) };
    const err = await apply(admin, policy(ns, 'refused', spec)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect(parseSpec(spec).ok).toBe(false);
  });

  it('the API server refuses the same hosts in signinURL, issuerURL and jwksURI', async () => {
    const specs = [
      { authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'http://a.auth.svc.cluster.local/', signinURL: 'http://2852039166/' } } },
      { authentication: { oidc: { issuerURL: 'https://kubernetes.default.svc', authURL: 'http://a.auth.svc.cluster.local/' } } },
      { authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://169.254.169.254/jwks', authURL: 'http://a.auth.svc.cluster.local/' } } },
    ];
    for (const s of specs) {
      const err = await apply(admin, policy(ns, 'refused', { ...target('api'), ...s })).then(() => undefined, (e: unknown) => e);
      expect((err as ApiError).status).toBe(422);
    }
  });

  it.each([
    ['a loopback port of the ingress controller', 'http://127.0.0.1:10246/configuration/backends', 'loopback address 127.0.0.1'],
    ['a pod address', 'http://10.0.0.5:8080/check', 'address 10.0.0.5'],
    ['localhost', 'http://localhost:10246/', 'loopback name'],
    ["another tenant's Service", 'http://victim.tenant-b.svc.cluster.local:8080/admin', 'not among the allowed auth hosts'],
  ])('%s is admitted by the API server but refused by the operator: Accepted=False, nothing written', async (_what, url, message) => {
    const name = `ssrf-${url.length}`;
    const { policy: p, annotations: a } = await verdict(name, external(url));
    expect(accepted(p)).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(p?.status?.conditions?.find((c) => c.type === 'Enforced')).toMatchObject({ status: 'False', reason: 'OutboundURLRefused' });
    expect(accepted(p)?.message).toContain(message);
    expect(a[AUTH_URL]).toBeUndefined();
  });

  it('hosts on the operator allow-list (exact address, *.suffix) and the baseline\'s are used', async () => {
    for (const [name, url] of [
      ['listed-address', 'http://127.0.0.9:9000/check'],
      ['listed-suffix', 'http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth'],
      ['listed-baseline', 'https://keys.example.net/verify'],
    ] as const) {
      const { policy: p, annotations: a } = await verdict(name, external(url));
      expect(accepted(p)).toMatchObject({ status: 'True' });
      expect(a[AUTH_URL]).toBe(url);
    }
  });

  it('signinURL: the auth host or an allowed host, never elsewhere (no open redirect)', async () => {
    const oidc = (signinURL: string): Record<string, unknown> => ({
      authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth', signinURL } },
    });
    const bad = await verdict('signin-elsewhere', oidc('https://evil.example.org/login'));
    expect(accepted(bad.policy)).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(bad.policy?.status?.conditions?.find((c) => c.type === 'Enforced')).toMatchObject({ status: 'False', reason: 'OutboundURLRefused' });
    expect(bad.annotations[AUTH_SIGNIN]).toBeUndefined();
    const good = await verdict('signin-allowed', oidc('https://login.example.com/start'));
    expect(accepted(good.policy)).toMatchObject({ status: 'True' });
    expect(good.annotations[AUTH_SIGNIN]).toBe('https://login.example.com/start');
  });
});
