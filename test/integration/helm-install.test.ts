// `helm install` of the chart into the real test API server, as a user would: the objects exist, the
// NOTES tell how to check compliance, an upgrade changes them, an uninstall removes them and keeps the
// CRD (Helm never deletes what a chart's crds/ folder installed). No kubelet runs, so no pod starts.
import type { KubeClient } from '../../src/k8s/client.ts';
import { clientAs, controlPlane, createNamespace, getOrUndefined, waitEstablished } from '../support/kube.ts';
import { chartDir, helm, helmBinary, helmOk } from '../support/helm.ts';

const rbac = '/apis/rbac.authorization.k8s.io/v1';

describe('helm install', () => {
  let admin: KubeClient;
  let kubeconfig: string;
  const release = `apisec-${Date.now().toString(36)}`;
  const ns = `${release}-system`;
  const fullname = `${release}-api-security-operator`;
  const paths = {
    deployment: `/apis/apps/v1/namespaces/${ns}/deployments/${fullname}`,
    serviceAccount: `/api/v1/namespaces/${ns}/serviceaccounts/${fullname}`,
    clusterRole: `${rbac}/clusterroles/${fullname}`,
    clusterRoleBinding: `${rbac}/clusterrolebindings/${fullname}`,
    leaseRole: `${rbac}/namespaces/${ns}/roles/${fullname}-leader-election`,
    leaseRoleBinding: `${rbac}/namespaces/${ns}/rolebindings/${fullname}-leader-election`,
    editRole: `${rbac}/clusterroles/${fullname}-edit`,
    viewRole: `${rbac}/clusterroles/${fullname}-view`,
    pdb: `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${fullname}`,
    service: `/api/v1/namespaces/${ns}/services/${fullname}-metrics`,
    webhookService: `/api/v1/namespaces/${ns}/services/${fullname}-webhook`,
    webhookCert: `/api/v1/namespaces/${ns}/secrets/${fullname}-webhook-cert`,
    webhookConfiguration: `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${fullname}-sidecar-injector`,
  };
  type Secret = { data: Record<string, string> };
  type Webhooks = { webhooks: { name: string; clientConfig: { caBundle: string } }[] };

  beforeAll(() => {
    helmBinary();
    admin = clientAs('admin');
    kubeconfig = controlPlane().kubeconfigs.admin;
  }, 15 * 60_000);

  afterAll(async () => {
    await helm(['uninstall', release, '--namespace', ns, '--ignore-not-found'], { kubeconfig });
  });

  it('installs the CRD, the operator and its least-privilege RBAC, and prints how to check compliance', async () => {
    // With the sidecar injection webhook: no kubelet runs, so no replica answers it, and failurePolicy
    // Ignore admits the pods of other tests' opted-in namespaces after one second.
    const out = await helmOk(['install', release, chartDir, '--namespace', ns, '--create-namespace', '--set', 'sidecarInjection.enabled=true', '--set', 'sidecarInjection.timeoutSeconds=1'], { kubeconfig });
    expect(out).toContain('STATUS: deployed');
    expect(out).toContain('kubectl get apisecuritypolicies -A');
    expect(out).toContain('kubectl describe asp -n <namespace> <name>');
    expect(out).toContain('kubectl label namespace <namespace> apisec.dev/inject=enabled');

    await waitEstablished(admin, 'apisecuritypolicies.apisec.dev');
    for (const [what, path] of Object.entries(paths)) {
      const obj = await getOrUndefined<{ metadata: { labels?: Record<string, string> } }>(admin, path);
      if (!obj) throw new Error(`${what} ${path} was not created`);
      expect(obj.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': release, 'app.kubernetes.io/managed-by': 'Helm' });
    }
    const deploy = await admin.request<{ spec: { replicas: number; template: { spec: { serviceAccountName: string; containers: { args: string[] }[] } } } }>('GET', paths.deployment, { verb: 'get' });
    expect(deploy.spec.replicas).toBe(2);
    expect(deploy.spec.template.spec.serviceAccountName).toBe(fullname);
    expect(deploy.spec.template.spec.containers[0]!.args).toContain(`--leader-election-namespace=${ns}`);
    const binding = await admin.request<{ subjects: unknown }>('GET', paths.clusterRoleBinding, { verb: 'get' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: fullname, namespace: ns }]);
    // The API server accepted the chart's webhooks, each trusting the CA the chart made.
    const cert = await admin.request<Secret>('GET', paths.webhookCert, { verb: 'get' });
    const config = await admin.request<Webhooks>('GET', paths.webhookConfiguration, { verb: 'get' });
    expect(config.webhooks.map((w) => [w.name, w.clientConfig.caBundle])).toEqual([
      ['namespace.sidecar.apisec.dev', cert.data['ca.crt']],
      ['pod.sidecar.apisec.dev', cert.data['ca.crt']],
    ]);
  });

  it('upgrades in place with new values, keeping the webhook certificate and its caBundle', async () => {
    const team = await createNamespace(admin, 'team');
    const before = await admin.request<Secret>('GET', paths.webhookCert, { verb: 'get' });
    await helmOk(['upgrade', release, chartDir, '--namespace', ns, '--reuse-values', '--set', 'replicaCount=3', '--set', `watchNamespaces={${team}}`], { kubeconfig });
    const deploy = await admin.request<{ spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } } }>('GET', paths.deployment, { verb: 'get' });
    expect(deploy.spec.replicas).toBe(3);
    expect(deploy.spec.template.spec.containers[0]!.args).toContain(`--namespace=${team}`);
    // Watching one namespace: a Role there grants the namespaced rules; the ClusterRole keeps only the
    // cluster-scoped ones (baselines, namespaces, GatewayClasses, and the token and access reviews of
    // metrics.auth's default, kubernetes).
    expect(await getOrUndefined(admin, `${rbac}/namespaces/${team}/rolebindings/${fullname}`)).toBeDefined();
    const clusterRole = await admin.request<{ rules: { resources: string[] }[] }>('GET', paths.clusterRole, { verb: 'get' });
    expect(clusterRole.rules.flatMap((r) => r.resources).sort()).toEqual(['clusterapisecuritypolicies', 'clusterapisecuritypolicies/status', 'gatewayclasses', 'namespaces', 'subjectaccessreviews', 'tokenreviews']);
    expect((await helmOk(['history', release, '--namespace', ns], { kubeconfig })).trim().split('\n')).toHaveLength(3);
    // The chart read its certificate back (lookup) rather than making a new one the replicas do not serve yet.
    expect((await admin.request<Secret>('GET', paths.webhookCert, { verb: 'get' })).data).toEqual(before.data);
    const config = await admin.request<Webhooks>('GET', paths.webhookConfiguration, { verb: 'get' });
    expect(config.webhooks.map((w) => w.clientConfig.caBundle)).toEqual([before.data['ca.crt'], before.data['ca.crt']]);
  });

  it('uninstalls everything but the CRD', async () => {
    await helmOk(['uninstall', release, '--namespace', ns], { kubeconfig });
    for (const path of Object.values(paths)) expect(await getOrUndefined(admin, path)).toBeUndefined();
    expect(await getOrUndefined(admin, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/apisecuritypolicies.apisec.dev')).toBeDefined();
  });
});
