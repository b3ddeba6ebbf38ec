// The Helm chart, rendered offline by the real Helm CLI: `helm lint`, golden renders of three value sets
// (UPDATE_GOLDEN=1 rewrites test/golden/helm/*.yaml), what the RBAC grants, how values become the
// operator's flags (parsed by the operator's own parseConfig), and what values.schema.json refuses.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig, type OperatorConfig } from '../../src/config.ts';
import { Resources } from '../../src/k8s/resources.ts';
import { repoRoot } from '../support/controlplane.ts';
import { KUBE_VERSION, chartDir, helm, helmBinary, helmOk } from '../support/helm.ts';
import { guardRules } from '../support/guard.ts';
import { metricsAuthRules, operatorRules, sidecarInjectionRules } from '../support/operator.ts';
import { webhookConfiguration } from '../../src/webhook/configuration.ts';
import { podNodeFlags } from '../../bench/node-flags.ts';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken: boolean;
  securityContext: Record<string, unknown>;
  containers: Container[];
}

const golden = join(repoRoot, 'test/golden/helm');
const RELEASE = 'api-security-operator';
const NAMESPACE = 'apisec-system';
const variants = ['default', 'one-namespace', 'single-replica', 'sidecar-injection'] as const;

function valuesArgs(variant: string): string[] {
  const file = join(golden, `${variant}.values.yaml`);
  return existsSync(file) ? ['-f', file] : [];
}

async function render(variant: string, extra: string[] = []): Promise<string> {
  return helmOk(['template', RELEASE, chartDir, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, ...valuesArgs(variant), ...extra]);
}

function objects(yaml: string): Obj[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const find = (objs: Obj[], kind: string, name?: string): Obj[] => objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const one = (objs: Obj[], kind: string, name?: string): Obj => {
  const found = find(objs, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
};
const podSpec = (objs: Obj[]): PodSpec => (one(objs, 'Deployment') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const rulesOf = (o: Obj): Rule[] => (o as unknown as { rules: Rule[] }).rules;
const subjectsOf = (o: Obj): unknown => (o as unknown as { subjects: unknown }).subjects;
const leaseRule = operatorRules.find((r) => r.resources.includes('leases'))!;
/** Rules on cluster-scoped resources (by the operator's resource table), which only a ClusterRole grants. */
const isClusterScoped = (r: Rule): boolean =>
  r.resources.every((res) => Object.values(Resources).some((x) => !x.namespaced && x.plural === res.split('/')[0]));
const clusterRules = operatorRules.filter(isClusterScoped);
const namespacedRules = operatorRules.filter((r) => r !== leaseRule && !isClusterScoped(r));
const sorted = (rules: Rule[]): Rule[] => [...rules].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** The flags the Deployment passes, read by the operator's own parser with the downward-API env. */
function flags(objs: Obj[]): OperatorConfig {
  const c = parseConfig(podSpec(objs).containers[0]!.args, { POD_NAME: 'pod-0', POD_NAMESPACE: NAMESPACE });
  if (typeof c === 'string') throw new Error(`args parsed as ${c}`);
  return c;
}

const isGuard = (o: Obj): boolean => o.metadata.labels?.['app.kubernetes.io/component'] === 'guard';

describe('the Helm chart', () => {
  /** The operator's objects; the guard's are in `guards`. */
  const rendered: Record<string, Obj[]> = {};
  const guards: Record<string, Obj[]> = {};

  beforeAll(async () => {
    helmBinary(); // builds Helm on first use (minutes); later runs reuse .cache/tools
    for (const v of variants) {
      const all = objects(await render(v));
      rendered[v] = all.filter((o) => !isGuard(o));
      guards[v] = all.filter(isGuard);
    }
  }, 15 * 60_000);

  it.each<[string, number | undefined]>([
    ['256Mi', 256],
    ['1Gi', 1024],
    ['1536Mi', 1536],
    ['128Mi', 128],
    ['1G', 953],
    ['268435456', undefined],
  ])("sizes V8's heap from a memory limit of %s as the benchmarks run it (bench/node-flags.ts)", async (limit, mib) => {
    const env = podSpec((await render('default', ['--set', `resources.limits.memory=${limit}`]).then(objects)).filter((o) => !isGuard(o))).containers[0]!.env;
    const flags = env.find((e) => e.name === 'NODE_OPTIONS')?.value;
    expect(flags).toBe(mib === undefined ? '--max-semi-space-size=16' : podNodeFlags(mib).join(' '));
    const own = podSpec(objects(await render('default', ['--set', 'nodeOptions=--max-old-space-size=900'])).filter((o) => !isGuard(o))).containers[0]!.env;
    expect(own.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=900');
  });

  it.each(variants)('passes helm lint --strict with the %s values', async (variant) => {
    const out = await helmOk(['lint', chartDir, '--strict', '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, ...valuesArgs(variant)]);
    expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it.each(variants)('renders the %s values as in test/golden/helm/ (UPDATE_GOLDEN=1 to refresh)', async (variant) => {
    const out = await render(variant);
    const file = join(golden, `${variant}.yaml`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, out);
    expect(existsSync(file)).toBe(true);
    expect(out).toBe(readFileSync(file, 'utf8'));
  });

  describe('default values', () => {
    it('runs 2 hardened replicas with leader election in the release namespace', () => {
      const objs = rendered.default!;
      const deploy = one(objs, 'Deployment') as unknown as { spec: { replicas: number } };
      expect(deploy.spec.replicas).toBe(2);
      const pod = podSpec(objs);
      expect(pod.serviceAccountName).toBe(RELEASE);
      expect(pod.automountServiceAccountToken).toBe(true);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      const c = pod.containers[0]!;
      expect(c.image).toBe('api-security-operator:0.1.0');
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65532,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(c.resources.requests).toEqual({ cpu: '50m', memory: '128Mi' });
      expect(c.resources.limits).toEqual({ memory: '256Mi' });
      expect(c.ports).toEqual([
        { name: 'metrics', containerPort: 8080, protocol: 'TCP' },
        { name: 'health', containerPort: 8081, protocol: 'TCP' },
      ]);
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
      expect(c.env.filter((e) => e.valueFrom).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])).toEqual([
        ['POD_NAME', 'metadata.name'],
        ['POD_NAMESPACE', 'metadata.namespace'],
      ]);
      const config = flags(objs);
      expect(config).toMatchObject({ leaderElect: true, leaderElectionNamespace: NAMESPACE, leaderElectionId: RELEASE, metricsAddress: { port: 8080 }, healthProbeAddress: { port: 8081 }, identity: 'pod-0', workers: 8, resyncMs: 600_000 });
      expect(config.warnings).toEqual([]); // the chart uses no deprecated flag
      expect(config.namespace).toBeUndefined();
    });

    it('grants exactly the verbs the code uses: a ClusterRole, and a Role for the Lease in the release namespace', () => {
      const objs = rendered.default!;
      const subject = [{ kind: 'ServiceAccount', name: RELEASE, namespace: NAMESPACE }];
      // metrics.auth=kubernetes (the default) adds the /metrics filter's reviews.
      expect(sorted(rulesOf(one(objs, 'ClusterRole', RELEASE)))).toEqual(sorted([...namespacedRules, ...clusterRules, ...metricsAuthRules]));
      expect(one(objs, 'ClusterRoleBinding', RELEASE)).toMatchObject({ roleRef: { kind: 'ClusterRole', name: RELEASE } });
      expect(subjectsOf(one(objs, 'ClusterRoleBinding', RELEASE))).toEqual(subject);
      const leaseRole = one(objs, 'Role', `${RELEASE}-leader-election`);
      expect(leaseRole.metadata.namespace).toBe(NAMESPACE);
      // The code's Lease verbs, get and update limited to the one Lease (create cannot be limited by name).
      const { verbs, ...lease } = leaseRule;
      expect(rulesOf(leaseRole)).toEqual([
        { ...lease, resourceNames: ['api-security-operator'], verbs: verbs.filter((v) => v !== 'create') },
        { ...lease, verbs: ['create'] },
      ]);
      const leaseBinding = one(objs, 'RoleBinding', `${RELEASE}-leader-election`);
      expect(leaseBinding.metadata.namespace).toBe(NAMESPACE);
      expect(subjectsOf(leaseBinding)).toEqual(subject);
      expect(find(objs, 'Role')).toHaveLength(1);
      expect(find(objs, 'ClusterRoleBinding')).toHaveLength(1);
    });

    it('has no wildcard, no get or write of Secrets, and no update on Ingresses in any role', () => {
      for (const variant of variants) {
        for (const role of rendered[variant]!.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
          for (const r of rulesOf(role) as (Partial<Rule> & { verbs: string[]; nonResourceURLs?: string[] })[]) {
            const resources = r.resources ?? [];
            expect([...(r.apiGroups ?? []), ...resources, ...(r.nonResourceURLs ?? []), ...r.verbs]).not.toContain('*');
            // Secrets: only list and watch, of labelled client CAs as metadata (docs/helm.md says what that grants).
            if (resources.includes('secrets')) expect([role.metadata.name, r.verbs]).toEqual([role.metadata.name, role.metadata.name.includes('guard') ? ['get', 'list', 'watch'] : ['list', 'watch']]);
            if (resources.includes('ingresses')) expect(r.verbs).not.toContain('update');
          }
        }
      }
    });

    it('adds policy access to the built-in admin/edit and view roles, binding nobody', () => {
      const objs = rendered.default!;
      expect(one(objs, 'ClusterRole', `${RELEASE}-edit`).metadata.labels).toMatchObject({
        'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
        'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      });
      const view = one(objs, 'ClusterRole', `${RELEASE}-view`);
      expect(view.metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-view': 'true' });
      expect(rulesOf(view).flatMap((r) => r.verbs)).toEqual(['get', 'list', 'watch']);
    });

    it('has a PodDisruptionBudget, a metrics Service, a ServiceAccount, and no ServiceMonitor', () => {
      const objs = rendered.default!;
      const selector = { 'app.kubernetes.io/name': 'api-security-operator', 'app.kubernetes.io/instance': RELEASE };
      expect(one(objs, 'PodDisruptionBudget')).toMatchObject({ spec: { maxUnavailable: 1, selector: { matchLabels: selector } } });
      expect(one(objs, 'Service', `${RELEASE}-metrics`)).toMatchObject({ spec: { selector, ports: [{ name: 'metrics', port: 8080, targetPort: 'metrics' }] } });
      expect(one(objs, 'ServiceAccount', RELEASE).metadata.namespace).toBe(NAMESPACE);
      expect(find(objs, 'ServiceMonitor')).toHaveLength(0);
      expect(objs.map((o) => o.kind).sort()).toEqual(
        ['ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'ValidatingAdmissionPolicyBinding'].sort(),
      );
      // The admission policy holds the chart's own ServiceAccount, by name.
      const vap = one(objs, 'ValidatingAdmissionPolicy', `${RELEASE}-writes`) as unknown as { spec: { matchConditions: { expression: string }[] } };
      expect(vap.spec.matchConditions[0]?.expression).toBe(`request.userInfo.username == "system:serviceaccount:${NAMESPACE}:${RELEASE}"`);
    });

    it('names the ServiceAccount from serviceAccount.name in the account and every binding', async () => {
      const objs = objects(await render('default', ['--set', 'serviceAccount.name=apisec-sa'])).filter((o) => !isGuard(o));
      expect(one(objs, 'ServiceAccount').metadata.name).toBe('apisec-sa');
      expect(podSpec(objs).serviceAccountName).toBe('apisec-sa');
      for (const b of [...find(objs, 'ClusterRoleBinding'), ...find(objs, 'RoleBinding')]) {
        expect(subjectsOf(b)).toEqual([{ kind: 'ServiceAccount', name: 'apisec-sa', namespace: NAMESPACE }]);
      }
    });
  });

  describe('one watched namespace', () => {
    it('grants the namespaced rules as a Role in that namespace, and cluster-wide only those on cluster-scoped resources', () => {
      const objs = rendered['one-namespace']!;
      const role = one(objs, 'Role', RELEASE);
      expect(role.metadata.namespace).toBe('team-a');
      expect(sorted(rulesOf(role))).toEqual(sorted(namespacedRules));
      expect(clusterRules.map((r) => r.resources[0])).toEqual(expect.arrayContaining(['namespaces', 'clusterapisecuritypolicies']));
      // The reviews are cluster-scoped: in the ClusterRole also for one namespace.
      expect(sorted(rulesOf(one(objs, 'ClusterRole', RELEASE)))).toEqual(sorted([...clusterRules, ...metricsAuthRules]));
      expect(subjectsOf(one(objs, 'ClusterRoleBinding', RELEASE))).toEqual([{ kind: 'ServiceAccount', name: RELEASE, namespace: NAMESPACE }]);
      expect(one(objs, 'RoleBinding', RELEASE)).toMatchObject({ metadata: { namespace: 'team-a' }, roleRef: { kind: 'Role', name: RELEASE } });
      expect(subjectsOf(one(objs, 'RoleBinding', RELEASE))).toEqual([{ kind: 'ServiceAccount', name: RELEASE, namespace: NAMESPACE }]);
      expect(find(objs, 'ClusterRoleBinding')).toHaveLength(1);
      expect(find(objs, 'ClusterRole').map((o) => o.metadata.name).sort()).toEqual([RELEASE, `${RELEASE}-edit`, `${RELEASE}-metrics-reader`, `${RELEASE}-view`]);
      expect(one(objs, 'Role', `${RELEASE}-leader-election`).metadata.namespace).toBe(NAMESPACE);
    });

    it('passes --namespace, the ingress classes and the controller location as flags the operator accepts', () => {
      const objs = rendered['one-namespace']!;
      const config = flags(objs);
      expect(config.namespace).toBe('team-a');
      expect(config.logLevel).toBe('debug');
      expect(config.settings.ingressClasses).toMatchObject({ nginx: 'ingress-nginx', 'internal-nginx': 'ingress-nginx', edge: 'traefik' });
      expect(config.settings.ingressControllers['ingress-nginx']).toEqual({
        namespace: 'ingress',
        podLabels: { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'controller' },
      });
      expect(podSpec(objs).containers[0]!.image).toBe('registry.example.com/apisec/operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
    });

    it('adds a monitoring.coreos.com/v1 ServiceMonitor selecting the metrics Service', () => {
      const objs = rendered['one-namespace']!;
      const sm = one(objs, 'ServiceMonitor');
      expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(sm.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
      const service = one(objs, 'Service', `${RELEASE}-metrics`);
      const selector = (sm as unknown as { spec: { selector: { matchLabels: Record<string, string> } } }).spec.selector.matchLabels;
      expect(service.metadata.labels).toMatchObject(selector);
    });
  });

  describe('metrics.auth', () => {
    type Endpoint = { scheme?: string; bearerTokenFile?: string; authorization?: unknown; tlsConfig?: Record<string, unknown> };
    const endpoint = (objs: Obj[]): Endpoint => (one(objs, 'ServiceMonitor') as unknown as { spec: { endpoints: Endpoint[] } }).spec.endpoints[0]!;

    it('defaults to kubernetes: the flag, a metrics-reader ClusterRole for scrapers, and an HTTPS ServiceMonitor with a token', async () => {
      expect(flags(rendered.default!)).toMatchObject({ metricsAuth: 'kubernetes' });
      expect(flags(rendered.default!).metricsCertDir).toBeUndefined();
      expect(rulesOf(one(rendered.default!, 'ClusterRole', `${RELEASE}-metrics-reader`))).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
      expect(find(rendered.default!, 'ClusterRoleBinding', `${RELEASE}-metrics-reader`)).toHaveLength(0); // nobody is bound unless listed
      // Self-signed: nothing to verify against, so the ServiceMonitor skips verification; the token is encrypted anyway.
      expect(endpoint(rendered['one-namespace']!)).toMatchObject({ scheme: 'https', bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token', tlsConfig: { insecureSkipVerify: true } });
    });

    it('with certSecret: mounts it, passes --metrics-cert-dir, and the ServiceMonitor verifies against its ca.crt and sends the token Secret', async () => {
      const objs = objects(await render('one-namespace', ['--set', 'metrics.certSecret=metrics-tls', '--set', 'metrics.serviceMonitor.bearerTokenSecret.name=prom-token', '--set', 'metrics.serviceMonitor.bearerTokenSecret.key=token'])).filter((o) => !isGuard(o));
      const pod = podSpec(objs) as PodSpec & { volumes: { name: string; secret?: { secretName: string } }[] };
      expect(flags(objs)).toMatchObject({ metricsAuth: 'kubernetes', metricsCertDir: '/etc/apisec/metrics-certs' });
      expect(pod.volumes.find((v) => v.name === 'metrics-certs')?.secret?.secretName).toBe('metrics-tls');
      const e = endpoint(objs);
      expect(e).toMatchObject({ scheme: 'https', authorization: { type: 'Bearer', credentials: { name: 'prom-token', key: 'token' } } });
      expect(e.bearerTokenFile).toBeUndefined();
      expect(e.tlsConfig).toEqual({ serverName: `${RELEASE}-metrics.${NAMESPACE}.svc`, ca: { secret: { name: 'metrics-tls', key: 'ca.crt' } } });
    });

    it('binds the listed readers to the metrics-reader ClusterRole', async () => {
      const objs = objects(await render('default', ['--set-json', 'metrics.readers=[{"kind":"ServiceAccount","name":"prometheus-k8s","namespace":"monitoring"},{"kind":"Group","name":"scrapers"}]']));
      const binding = one(objs, 'ClusterRoleBinding', `${RELEASE}-metrics-reader`);
      expect(binding).toMatchObject({ roleRef: { kind: 'ClusterRole', name: `${RELEASE}-metrics-reader` } });
      expect(subjectsOf(binding)).toEqual([
        { kind: 'ServiceAccount', name: 'prometheus-k8s', namespace: 'monitoring' },
        { kind: 'Group', name: 'scrapers', apiGroup: 'rbac.authorization.k8s.io' },
      ]);
    });

    it('none: plain HTTP, no review rules, no reader role, a plain ServiceMonitor', async () => {
      const objs = rendered['single-replica']!;
      expect(flags(objs)).toMatchObject({ metricsAuth: 'none' });
      expect(sorted(rulesOf(one(objs, 'ClusterRole', RELEASE)))).toEqual(sorted([...namespacedRules, ...clusterRules]));
      const monitored = objects(await render('single-replica', ['--set', 'metrics.serviceMonitor.enabled=true']));
      const e = endpoint(monitored);
      expect([e.scheme, e.bearerTokenFile, e.authorization, e.tlsConfig]).toEqual([undefined, undefined, undefined, undefined]);
    });

    it('refuses an unknown mode, and certSecret without kubernetes', async () => {
      const r = await helm(['template', RELEASE, chartDir, '--kube-version', KUBE_VERSION, '--set', 'metrics.auth=rbac']);
      expect([r.status !== 0, r.stderr]).toEqual([true, expect.stringMatching(/metrics.auth/)]);
      const c = await helm(['template', RELEASE, chartDir, '--kube-version', KUBE_VERSION, '--set', 'metrics.auth=none', '--set', 'metrics.certSecret=metrics-tls']);
      expect([c.status !== 0, c.stderr]).toEqual([true, expect.stringMatching(/metrics.certSecret serves HTTPS, which only metrics.auth=kubernetes does/)]);
    });
  });

  describe('single replica', () => {
    it('runs without leader election, Lease role or PDB, as an existing ServiceAccount', () => {
      const objs = rendered['single-replica']!;
      const config = flags(objs);
      expect(config).toMatchObject({ leaderElect: false, workers: 4, resyncMs: 30_000 });
      expect(find(objs, 'Role')).toHaveLength(0);
      expect(find(objs, 'PodDisruptionBudget')).toHaveLength(0);
      expect(find(objs, 'ServiceAccount')).toHaveLength(0);
      expect(podSpec(objs).serviceAccountName).toBe('apisec-operator');
      expect(subjectsOf(one(objs, 'ClusterRoleBinding'))).toEqual([{ kind: 'ServiceAccount', name: 'apisec-operator', namespace: NAMESPACE }]);
      expect(find(objs, 'ClusterRole').map((o) => o.metadata.name)).toEqual([RELEASE]);
    });
  });

  describe('the guard', () => {
    const GUARD = `${RELEASE}-guard`;
    const guardPod = (objs: Obj[]): PodSpec => (one(objs, 'Deployment', GUARD) as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;

    it('runs 2 hardened replicas of `apisec guard` with probes, a PDB and a Service the operator is pointed at', async () => {
      const objs = guards.default!;
      expect((one(objs, 'Deployment', GUARD) as unknown as { spec: { replicas: number } }).spec.replicas).toBe(2);
      const pod = guardPod(objs);
      expect(pod.serviceAccountName).toBe(GUARD);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      const c = pod.containers[0]! as Container & { command: string[] };
      expect(c.command).toEqual(['node', 'dist/cli/main.js', 'guard']);
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      // The guard's own parser accepts the chart's flags.
      const { parseGuardConfig } = await import('../../src/guard/main.ts');
      expect(parseGuardConfig(c.args, {})).toMatchObject({ address: { port: 8080 }, metricsAddress: { port: 9090 }, namespaces: [] });
      const selector = { 'app.kubernetes.io/name': 'api-security-operator-guard', 'app.kubernetes.io/instance': RELEASE };
      expect(one(objs, 'PodDisruptionBudget', GUARD)).toMatchObject({ spec: { maxUnavailable: 1, selector: { matchLabels: selector } } });
      expect(one(objs, 'Service', GUARD)).toMatchObject({ spec: { selector, ports: [{ name: 'http', port: 8080, targetPort: 'http' }, { name: 'metrics', port: 9090, targetPort: 'metrics' }] } });
      // The operator's selectors never match the guard's pods, nor the other way round.
      const operatorSelector = (one(rendered.default!, 'Deployment') as unknown as { spec: { selector: { matchLabels: Record<string, string> } } }).spec.selector.matchLabels;
      expect(operatorSelector['app.kubernetes.io/name']).not.toBe(selector['app.kubernetes.io/name']);
      expect(flags(rendered.default!).settings.guardURL).toBe(`http://${GUARD}.${NAMESPACE}.svc:8080`);
    });

    it('gives the operator and the guard the same rate-limit store, and only the guard its credentials (from the Secret)', async () => {
      expect(flags(rendered.default!).settings.rateLimitStore).toBeUndefined();
      expect(flags(rendered['single-replica']!).settings.rateLimitStore).toEqual({ endpoint: 'redis.apisec-system.svc:6379', credentials: true });
      const c = guardPod(guards['single-replica']!).containers[0]!;
      const { parseGuardConfig } = await import('../../src/guard/main.ts');
      expect(parseGuardConfig(c.args, {})).toMatchObject({ rateLimitStore: { endpoint: 'redis.apisec-system.svc:6379' } });
      expect(c.env?.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.key])).toEqual([
        ['APISEC_RATE_LIMIT_STORE_USERNAME', 'apisec-redis', 'username'],
        ['APISEC_RATE_LIMIT_STORE_PASSWORD', 'apisec-redis', 'password'],
      ]);
      expect((guardPod(guards.default!).containers[0] as { env?: unknown }).env).toBeUndefined();
    });

    it('has its own ServiceAccount, read-only on policies and Secrets (plus Events), cluster-wide or per watched namespace', () => {
      const subject = [{ kind: 'ServiceAccount', name: GUARD, namespace: NAMESPACE }];
      const all = guards.default!;
      expect(one(all, 'ServiceAccount', GUARD).metadata.namespace).toBe(NAMESPACE);
      expect(sorted(rulesOf(one(all, 'ClusterRole', GUARD)))).toEqual(sorted(guardRules));
      expect(subjectsOf(one(all, 'ClusterRoleBinding', GUARD))).toEqual(subject);
      for (const r of guardRules) if (r.resources.includes('secrets') || r.resources.includes('apisecuritypolicies')) expect(r.verbs).toEqual(['get', 'list', 'watch']);
      const scoped = guards['one-namespace']!;
      expect(find(scoped, 'ClusterRole')).toHaveLength(0);
      expect(one(scoped, 'Role', GUARD)).toMatchObject({ metadata: { namespace: 'team-a' } });
      expect(sorted(rulesOf(one(scoped, 'Role', GUARD)))).toEqual(sorted(guardRules));
      expect(subjectsOf(one(scoped, 'RoleBinding', GUARD))).toEqual(subject);
      expect((guardPod(scoped).containers[0]!.args)).toContain('--namespace=team-a');
    });

    it('guard.enabled=false deploys no guard and passes no --guard-url', async () => {
      const objs = objects(await render('default', ['--set', 'guard.enabled=false']));
      expect(objs.filter(isGuard)).toEqual([]);
      expect(flags(objs).settings.guardURL).toBeUndefined();
    });
  });

  describe('sidecarInjection', () => {
    const WEBHOOK = `${RELEASE}-webhook`;
    type Webhooks = { webhooks: { clientConfig: { caBundle: string } }[] };
    type Secret = { data: Record<string, string> };

    it('is off by default: no webhook, no flag', () => {
      for (const v of ['default', 'one-namespace', 'single-replica'] as const) {
        expect(find(rendered[v]!, 'MutatingWebhookConfiguration')).toHaveLength(0);
        expect(flags(rendered[v]!).webhook).toBeUndefined();
      }
    });

    it('serves the webhook from every replica, with the certificate of certSecret mounted, and a Service in front', () => {
      const objs = rendered['sidecar-injection']!;
      expect(flags(objs).webhook).toEqual({ address: { port: 9443 }, certDir: '/etc/apisec/webhook-certs', image: 'nginxinc/nginx-unprivileged:1.27-alpine', operatorNamespace: NAMESPACE });
      const pod = podSpec(objs) as PodSpec & { volumes: { name: string; secret?: { secretName: string } }[] };
      expect(pod.containers[0]!.ports).toContainEqual({ name: 'webhook', containerPort: 9443, protocol: 'TCP' });
      expect(pod.volumes.find((v) => v.name === 'webhook-certs')?.secret?.secretName).toBe('apisec-webhook-tls');
      expect(find(objs, 'Secret')).toHaveLength(0); // the given Secret is not the chart's
      expect(one(objs, 'Service', WEBHOOK)).toMatchObject({ spec: { selector: { 'app.kubernetes.io/name': 'api-security-operator' }, ports: [{ port: 443, targetPort: 'webhook' }] } });
      const np = one(objs, 'NetworkPolicy') as unknown as { spec: { ingress: { ports: { port: number }[] }[] } };
      expect(np.spec.ingress[0]!.ports.map((p) => p.port)).toEqual([8081, 9443]);
    });

    it('grants list and watch on pods (for SidecarInjected) and nothing else more, in the ClusterRole or the watched namespace\'s Role', async () => {
      expect(sorted(rulesOf(one(rendered['sidecar-injection']!, 'ClusterRole', RELEASE)))).toEqual(sorted([...namespacedRules, ...sidecarInjectionRules, ...clusterRules, ...metricsAuthRules]));
      const one_ = objects(await render('one-namespace', ['--set', 'sidecarInjection.enabled=true'])).filter((o) => !isGuard(o));
      expect(sorted(rulesOf(one(one_, 'Role', RELEASE)))).toEqual(sorted([...namespacedRules, ...sidecarInjectionRules]));
    });

    it('registers exactly the webhooks of src/webhook/configuration.ts, on the Service, with the given caBundle', () => {
      const objs = rendered['sidecar-injection']!;
      const caBundle = (readFileSync(join(golden, 'sidecar-injection.values.yaml'), 'utf8').match(/caBundle: (\S+)/) ?? [])[1]!;
      const expected = webhookConfiguration({ name: `${RELEASE}-sidecar-injector`, operatorNamespace: NAMESPACE, clientConfig: { service: { name: WEBHOOK, namespace: NAMESPACE, port: 443, path: '/mutate-pods' }, caBundle } });
      const chart = one(objs, 'MutatingWebhookConfiguration');
      expect(chart.metadata.name).toBe(`${RELEASE}-sidecar-injector`);
      expect((chart as unknown as Webhooks).webhooks).toEqual(expected.webhooks);
    });

    it('without certSecret: a CA and a certificate for the Service, the CA in the caBundle', async () => {
      const objs = objects(await render('default', ['--set', 'sidecarInjection.enabled=true'])).filter((o) => !isGuard(o));
      const secret = one(objs, 'Secret', `${WEBHOOK}-cert`) as unknown as Secret;
      const pem = (k: string): string => Buffer.from(secret.data[k]!, 'base64').toString('utf8');
      const ca = new X509Certificate(pem('ca.crt'));
      const cert = new X509Certificate(pem('tls.crt'));
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.subjectAltName).toContain(`DNS:${WEBHOOK}.${NAMESPACE}.svc`);
      expect(cert.checkPrivateKey(createPrivateKey(pem('tls.key')))).toBe(true);
      for (const w of (one(objs, 'MutatingWebhookConfiguration') as unknown as Webhooks).webhooks) expect(w.clientConfig.caBundle).toBe(secret.data['ca.crt']);
      expect((podSpec(objs) as PodSpec & { volumes: { name: string; secret?: { secretName: string } }[] }).volumes.find((v) => v.name === 'webhook-certs')?.secret?.secretName).toBe(`${WEBHOOK}-cert`);
    });

    it('refuses certSecret without caBundle, and the webhook port on another port', async () => {
      const r = await helm(['template', RELEASE, chartDir, '--kube-version', KUBE_VERSION, '--set', 'sidecarInjection.enabled=true', '--set', 'sidecarInjection.certSecret=tls']);
      expect([r.status !== 0, r.stderr]).toEqual([true, expect.stringMatching(/sidecarInjection.certSecret needs sidecarInjection.caBundle/)]);
      const p = await helm(['template', RELEASE, chartDir, '--kube-version', KUBE_VERSION, '--set', 'sidecarInjection.enabled=true', '--set', 'sidecarInjection.port=8081']);
      expect([p.status !== 0, p.stderr]).toEqual([true, expect.stringMatching(/sidecarInjection.port must differ/)]);
    });
  });

  describe('values.schema.json', () => {
    const refused = async (...sets: string[]): Promise<string> => {
      const r = await helm(['template', RELEASE, chartDir, '--kube-version', KUBE_VERSION, ...sets]);
      expect(r.status).not.toBe(0);
      return r.stderr;
    };

    it('refuses a wrong type, naming the field', async () => {
      const err = await refused('--set-json', 'replicaCount="two"');
      expect(err).toMatch(/replicaCount/);
      expect(err).toMatch(/integer/);
    });

    it('refuses an unknown key, at the top level and inside the chart\'s own objects', async () => {
      expect(await refused('--set', 'replicas=2')).toMatch(/replicas/);
      expect(await refused('--set', 'metrics.serviceMonitor.enable=true')).toMatch(/enable/);
    });

    it('refuses more than one watched namespace (the operator takes one today)', async () => {
      expect(await refused('--set', 'watchNamespaces={a,b}')).toMatch(/watchNamespaces/);
    });

    it('refuses an unknown data plane, a bad duration and a bad log level', async () => {
      expect(await refused('--set', 'ingressClasses.foo=envoy')).toMatch(/ingressClasses/);
      expect(await refused('--set', 'resync=10 minutes')).toMatch(/resync/);
      expect(await refused('--set', 'logLevel=loud')).toMatch(/logLevel/);
      expect(await refused('--set', 'ingressControllers.nginx.namespace=x')).toMatch(/ingressControllers/);
    });

    it('refuses the probe port on the metrics port', async () => {
      expect(await refused('--set', 'healthProbe.port=8080')).toMatch(/healthProbe.port must differ from metrics.port/);
      expect(await refused('--set', 'healthProbe.prot=8082')).toMatch(/prot/);
    });

    it('refuses several replicas without leader election', async () => {
      expect(await refused('--set', 'leaderElection.enabled=false')).toMatch(/leaderElection.enabled=false allows only replicaCount: 1/);
    });
  });
});
