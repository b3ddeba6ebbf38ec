// The chart's RBAC is enough, and no more: the chart is installed into the test API server, and the
// operator process (`node src/main.ts` with the Deployment's own flags) runs as the chart's
// ServiceAccount and reconciles everything in examples/. The same identity is then refused Secrets,
// full updates of Ingresses, RBAC objects, Deployments and Leases outside the release namespace.
//
// The identity: other test files bind a broad test role to the control plane's fixed `operator` token
// (system:serviceaccount:apisec-system:api-security-operator), so this file uses a ServiceAccount of its
// own by impersonation: the admin's credentials with `as: system:serviceaccount:apisec-rbac:<release>`
// (client-node sends Impersonate-User; the API server then adds the ServiceAccount groups itself).
// The chart is installed into namespace apisec-rbac, so its bindings name exactly that user and nobody
// else grants it anything.
//
// The examples are applied into namespaces of their own (shop → rbac-shop-…), and the operator runs once
// per namespace (--namespace): a cluster-wide instance would also reconcile whatever the other test files
// left in this shared API server. Cluster-wide reads are checked with direct requests instead.
//
// A second release with `watchNamespaces: [one]` shows the namespaced variant: it reconciles in its
// namespace and is refused the namespaced resources of every other one.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { KubeClient } from '../../src/k8s/client.ts';
import { connect } from '../../src/k8s/connect.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import { METADATA_LIST } from '../../src/k8s/list.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { identities, repoRoot } from '../support/controlplane.ts';
import { chartDir, helm, helmBinary, helmOk } from '../support/helm.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, getOrUndefined, installCrds, installPolicyReportCrd, loadYamlFile } from '../support/kube.ts';

const NS = 'apisec-rbac';
const RELEASE = 'api-security-operator';
const USER = `system:serviceaccount:${NS}:${RELEASE}`;
/** The one-namespace release: another name, so its ClusterRole and ServiceAccount are its own. */
const ONE_NS_RELEASE = 'apisec-one-ns';
const ONE_NS_USER = `system:serviceaccount:${NS}:${ONE_NS_RELEASE}-api-security-operator`;

interface Condition {
  type: string;
  status: string;
  reason: string;
}
type Policy = KubeObject & { status?: { observedGeneration?: number; conditions?: Condition[] } };

/** The admin's kubeconfig, acting as a ServiceAccount. */
function impersonatingKubeconfig(dir: string, as: string): string {
  const cfg = parse(readFileSync(controlPlane().kubeconfigs.admin, 'utf8')) as {
    'current-context': string;
    contexts: { name: string; context: { user: string } }[];
    users: { name: string; user: Record<string, unknown> }[];
  };
  const userName = cfg.contexts.find((c) => c.name === cfg['current-context'])?.context.user;
  const user = cfg.users.find((u) => u.name === userName);
  if (!user) throw new Error('admin kubeconfig has no current user');
  user.user.as = as;
  const path = join(dir, `${as.split(':').pop()}.kubeconfig`);
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

/** The Deployment's container args, as the chart rendered them for a release. */
async function deploymentArgs(kubeconfig: string, release: string, which: 'operator' | 'guard' = 'operator'): Promise<string[]> {
  const manifest = await helmOk(['get', 'manifest', release, '--namespace', NS], { kubeconfig });
  const deploy = parseAllDocuments(manifest)
    .map((d) => d.toJS() as { kind?: string; metadata?: { labels?: Record<string, string> }; spec?: { template: { spec: { containers: { args: string[] }[] } } } } | null)
    .find((o) => o?.kind === 'Deployment' && (o.metadata?.labels?.['app.kubernetes.io/component'] === 'guard') === (which === 'guard'));
  if (!deploy?.spec) throw new Error('the release has no Deployment');
  return deploy.spec.template.spec.containers[0]!.args;
}

const policyReport = (c: KubeClient, ns: string): Promise<KubeObject | undefined> =>
  getOrUndefined<KubeObject>(c, objectPath(Resources.policyReport, ns, 'api-security-operator'));

interface Operator {
  proc: ChildProcess;
  logs: string[];
  exited: Promise<number | null>;
}

function startOperator(args: string[], kubeconfig: string, name: string): Operator {
  const proc = spawn(process.execPath, [join(repoRoot, 'src/main.ts'), ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: name, POD_NAMESPACE: NS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const op: Operator = { proc, logs: [], exited: new Promise((res) => proc.on('exit', (code) => res(code))) };
  const onData = (c: Buffer): void => void op.logs.push(...c.toString().split('\n').filter(Boolean));
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  return op;
}

const status = async (p: Promise<unknown>): Promise<number> => {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
};

const condition = (p: Policy, type: string): Condition | undefined => p.status?.conditions?.find((c) => c.type === type);

describe('the chart RBAC, as the chart ServiceAccount', () => {
  let admin: KubeClient;
  let asOperator: KubeClient;
  let adminKubeconfig: string;
  let operatorKubeconfig: string;
  let tmp: string;
  const operators: Operator[] = [];
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  /** Example namespace → the namespace this run uses for it. */
  const namespaces: Record<string, string> = {};
  /** Cluster-scoped copies of examples (baselines), deleted after the run. */
  const clusterScoped: string[] = [];
  const auditStart = new Date();

  beforeAll(async () => {
    helmBinary();
    admin = clientAs('admin');
    adminKubeconfig = controlPlane().kubeconfigs.admin;
    await installCrds(admin);
    await installPolicyReportCrd(admin);
    // The default values, but no pods: on an existing cluster with nodes they would reconcile too.
    // upgrade --install: idempotent when an earlier run against the same cluster left the release.
    // With the sidecar injection webhook, whose configuration no replica answers here (1 s, then Ignore).
    await helmOk(
      ['upgrade', '--install', RELEASE, chartDir, '--namespace', NS, '--create-namespace', '--set', 'replicaCount=0', '--set', 'guard.replicaCount=0', '--set', 'sidecarInjection.enabled=true', '--set', 'sidecarInjection.timeoutSeconds=1'],
      { kubeconfig: adminKubeconfig },
    );
    tmp = mkdtempSync(join(tmpdir(), 'apisec-rbac-'));
    operatorKubeconfig = impersonatingKubeconfig(tmp, USER);
    asOperator = connect({ kubeconfig: operatorKubeconfig });
  }, 15 * 60_000);

  afterAll(async () => {
    for (const op of operators) if (op.proc.exitCode === null) op.proc.kill('SIGKILL');
    for (const name of clusterScoped) await admin.request('DELETE', objectPath(Resources.baseline, undefined, name), { verb: 'delete' }).catch(() => undefined);
    await helm(['uninstall', RELEASE, '--namespace', NS, '--ignore-not-found'], { kubeconfig: adminKubeconfig });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('acts as the ServiceAccount the chart binds, with the ServiceAccount groups', async () => {
    const review = await asOperator.request<{ status: { userInfo: { username: string; groups: string[] } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { verb: 'create', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    expect(review.status.userInfo.username).toBe(USER);
    expect(review.status.userInfo.groups.sort()).toEqual(['system:authenticated', 'system:serviceaccounts', `system:serviceaccounts:${NS}`]);
  });

  it('reconciles every example with only the chart\'s permissions', async () => {
    // Every example, each in a namespace of this run.
    const examples = join(repoRoot, 'examples');
    for (const file of readdirSync(examples).filter((f) => f.endsWith('.yaml')).sort()) {
      const objects = loadYamlFile(join(examples, file));
      // A baseline (cluster-scoped) would act on every namespace of the shared API server: this run's copy
      // selects only this run's namespaces (labelled rbac-run=<suffix>) and is removed afterwards.
      for (const o of objects) {
        if (o.kind === 'ClusterApiSecurityPolicy') continue;
        if (o.kind !== 'Namespace' && !o.metadata.namespace) throw new Error(`examples/${file}: cluster-scoped ${o.kind} ${o.metadata.name}: decide here how to isolate it`);
        const ns = o.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace!;
        namespaces[ns] ??= `rbac-${ns}-${suffix}`.slice(0, 63);
      }
      const renamed = objects.map((o) => {
        if (o.kind === 'ClusterApiSecurityPolicy') {
          const spec = o.spec as { namespaceSelector?: { matchLabels?: Record<string, string> } };
          const name = `rbac-${o.metadata.name}-${suffix}`.slice(0, 63);
          clusterScoped.push(name);
          return { ...o, metadata: { name }, spec: { ...spec, namespaceSelector: { matchLabels: { ...spec.namespaceSelector?.matchLabels, 'rbac-run': suffix } } } };
        }
        return o.kind === 'Namespace'
          ? { ...o, metadata: { ...o.metadata, name: namespaces[o.metadata.name]!, labels: { ...o.metadata.labels, 'rbac-run': suffix } } }
          : { ...o, metadata: { ...o.metadata, namespace: namespaces[o.metadata.namespace!]! } };
      });
      for (const o of renamed.sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'))) await apply(admin, o);
    }
    expect(Object.keys(namespaces)).toEqual(expect.arrayContaining(['billing', 'legacy', 'shop']));
    // What examples/sidecar-api.yaml tells its owner to create: the API keys, labelled as the guard's.
    if (namespaces.partners) {
      await apply(admin, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'partner-api-keys', namespace: namespaces.partners, labels: { 'apisec.dev/api-keys': 'true' } }, stringData: { acme: 'rbac-test-key-0123456789' } } as KubeObject);
    }

    // The operator with the Deployment's own flags, one process per namespace (own port, own Lease).
    const args = await deploymentArgs(adminKubeconfig, RELEASE);
    expect(args).toContain(`--leader-election-namespace=${NS}`);
    expect(args).toContain('--webhook-bind-address=:9443');
    // The webhook serves the chart's certificate (mounted in a pod; here copied by the admin): it needs
    // no permission of its own, and the audit check below finds nothing refused with it running.
    const webhookCerts = join(tmp, 'webhook-certs');
    mkdirSync(webhookCerts);
    const cert = await admin.request<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${NS}/secrets/${RELEASE}-webhook-cert`, { verb: 'get' });
    for (const k of ['tls.crt', 'tls.key']) writeFileSync(join(webhookCerts, k), Buffer.from(cert.data[k]!, 'base64'));
    // The chart grants get and update on its one Lease by name; these processes each use their own, so
    // the test grants those names the same way (nothing else is added to the chart's permissions).
    const leaseNames = Object.keys(namespaces).map((example) => `rbac-${example}-${suffix}`);
    await apply(admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: `test-leases-${suffix}`, namespace: NS }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: leaseNames, verbs: ['get', 'update'] }] } as never);
    await apply(admin, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `test-leases-${suffix}`, namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `test-leases-${suffix}` },
      subjects: [{ kind: 'ServiceAccount', name: RELEASE, namespace: NS }],
    } as never);
    for (const [example, ns] of Object.entries(namespaces)) {
      operators.push(
        startOperator(
          [...args, '--metrics-bind-address=127.0.0.1:0', '--health-probe-bind-address=127.0.0.1:0', '--webhook-bind-address=127.0.0.1:0', `--webhook-cert-dir=${webhookCerts}`, `--namespace=${ns}`, `--leader-election-id=rbac-${example}-${suffix}`],
          operatorKubeconfig,
          `rbac-${example}`,
        ),
      );
    }

    const policyOf = (example: string, name: string): Promise<Policy> =>
      admin.request<Policy>('GET', objectPath(Resources.policy, namespaces[example], name), { verb: 'get' });
    const reconciled = async (example: string, name: string): Promise<Policy> => {
      const p = await policyOf(example, name);
      if (p.status?.observedGeneration !== p.metadata.generation) throw new Error(`${name} not reconciled yet`);
      return p;
    };
    const allReconciled = async (): Promise<void> => {
      for (const ns of Object.values(namespaces)) {
        const list = await admin.request<{ items: Policy[] }>('GET', collectionPath(Resources.policy, ns), { verb: 'list' });
        const pending = list.items.filter((p) => p.status?.observedGeneration !== p.metadata.generation);
        if (pending.length) throw new Error(`not reconciled yet: ${pending.map((p) => `${ns}/${p.metadata.name}`).join(', ')}`);
      }
    };
    const [catalog, ledger, reports] = await eventually(async () => {
      await allReconciled();
      return Promise.all([reconciled('shop', 'catalog-api'), reconciled('billing', 'ledger-api'), reconciled('legacy', 'reports-api')]);
    }, 60_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- operator logs ---\n${operators.flatMap((o) => o.logs).join('\n')}`);
    });

    for (const p of [catalog, ledger]) {
      expect(condition(p, 'Accepted')?.status).toBe('True');
      expect(condition(p, 'Enforced')).toMatchObject({ status: 'True' });
      expect(p.metadata.finalizers).toContain('apisec.dev/cleanup');
    }
    expect(condition(reports, 'Enforced')).toMatchObject({ status: 'False', reason: 'AuditMode' });
    // The chart points the operator at its guard (--guard-url): the examples' OIDC and API-key
    // authentication and their rules are decided there, and their status says so.
    const identity = (p: Policy): { control: string; result: string; enforcement: string; fidelity?: string }[] =>
      ((p.status as { controls?: { control: string; result: string; enforcement: string; fidelity?: string }[] }).controls ?? [])
        .filter((c) => c.control === 'Authentication' || c.control === 'Authorization')
        .map(({ control, result, enforcement, fidelity }) => ({ control, result, enforcement, ...(fidelity ? { fidelity } : {}) }));
    const exact = [
      { control: 'Authentication', result: 'Pass', enforcement: 'Enforced', fidelity: 'Exact' },
      { control: 'Authorization', result: 'Pass', enforcement: 'Enforced', fidelity: 'Exact' },
    ];
    expect(identity(catalog)).toEqual(exact);
    if (namespaces.partners) expect(identity(await reconciled('partners', 'partner-api'))).toEqual(exact);

    const ingress = (example: string, name: string): Promise<KubeObject> =>
      admin.request<KubeObject>('GET', objectPath(Resources.ingress, namespaces[example], name), { verb: 'get' });
    for (const [example, name, policy] of [['shop', 'catalog', 'catalog-api'], ['billing', 'ledger', 'ledger-api']] as const) {
      const annotations = (await ingress(example, name)).metadata.annotations ?? {};
      expect(annotations['apisec.dev/policy']).toBe(policy);
      expect(Object.keys(annotations).filter((k) => k.startsWith('nginx.ingress.kubernetes.io/')).length).toBeGreaterThan(3);
    }
    // Audit mode writes nothing to its target.
    expect(Object.keys((await ingress('legacy', 'reports')).metadata.annotations ?? {})).toEqual([]);

    const networkPolicies = async (example: string): Promise<KubeObject[]> =>
      (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.networkPolicy, namespaces[example]), { verb: 'list' })).items;
    expect((await networkPolicies('shop')).length).toBeGreaterThan(0);
    expect((await networkPolicies('billing')).length).toBeGreaterThan(0);
    expect(await networkPolicies('legacy')).toEqual([]);
    // A PolicyReport in every example namespace.
    await eventually(async () => {
      for (const ns of Object.values(namespaces)) expect([ns, (await policyReport(admin, ns)) !== undefined]).toEqual([ns, true]);
    }, 30_000);
    if (namespaces.partners) {
      // The sidecar example: the operator wrote the sidecar's ConfigMap.
      const cms = await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.configMap, namespaces.partners), { verb: 'list' });
      expect(cms.items.map((c) => c.metadata.name)).toContain('apisec-partner-api-sidecar');
    }

    // Deleting a policy: the finalizer releases the Ingress, deletes the NetworkPolicies and lets go.
    await admin.request('DELETE', objectPath(Resources.policy, namespaces.shop, 'catalog-api'), { verb: 'delete' });
    await eventually(async () => {
      expect(await status(policyOf('shop', 'catalog-api'))).toBe(404);
      expect((await ingress('shop', 'catalog')).metadata.annotations?.['apisec.dev/policy']).toBeUndefined();
      expect(await networkPolicies('shop')).toEqual([]);
    }, 30_000);

    expect(operators.flatMap((o) => o.logs).filter((l) => /forbidden/i.test(l))).toEqual([]);
    for (const o of operators) expect(o.logs.filter((l) => l.includes('Started sidecar injection webhook'))).toHaveLength(1);
  }, 120_000);

  it('stops cleanly on SIGTERM and releases its Lease in the release namespace', async () => {
    for (const op of operators) op.proc.kill('SIGTERM');
    expect(await Promise.all(operators.map((o) => o.exited))).toEqual(operators.map(() => 0));
    const leases = await admin.request<{ items: { metadata: { name: string }; spec: { holderIdentity?: string } }[] }>('GET', collectionPath(Resources.lease, NS), { verb: 'list' });
    const ours = leases.items.filter((l) => l.metadata.name.endsWith(suffix));
    expect(ours).toHaveLength(Object.keys(namespaces).length);
    for (const l of ours) expect(l.spec.holderIdentity ?? '').toBe('');
  });

  it('was refused nothing while reconciling (kube-apiserver audit log)', () => {
    const log = controlPlane().auditLogPath;
    if (!log) return; // an existing cluster: no audit log to read
    const events = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes(USER))
      .map((l) => JSON.parse(l) as { stage: string; verb: string; requestURI: string; impersonatedUser?: { username: string }; responseStatus?: { code: number }; requestReceivedTimestamp: string })
      // Watches stay open: they are logged at ResponseStarted; everything else at ResponseComplete.
      .filter((e) => (e.stage === 'ResponseComplete' || e.stage === 'ResponseStarted') && e.impersonatedUser?.username === USER && new Date(e.requestReceivedTimestamp) >= auditStart);
    expect(events.length).toBeGreaterThan(20);
    expect(events.filter((e) => e.responseStatus?.code === 403).map((e) => `${e.verb} ${e.requestURI}`)).toEqual([]);
    // It listed and watched, applied, deleted and held a Lease, all under this identity.
    const verbs = new Set(events.map((e) => e.verb));
    for (const v of ['list', 'watch', 'patch', 'delete', 'create', 'update']) expect(verbs).toContain(v);
    // The writes to the examples were this identity's (not another test's operator with broader rights).
    const patched = (path: string): boolean =>
      events.some((e) => e.verb === 'patch' && e.requestURI.split('?')[0] === path && (e.responseStatus?.code ?? 0) < 300);
    for (const [example, name] of [['shop', 'catalog'], ['billing', 'ledger']] as const) expect([name, patched(objectPath(Resources.ingress, namespaces[example], name))]).toEqual([name, true]);
    for (const [example, name] of [['shop', 'catalog-api'], ['billing', 'ledger-api'], ['legacy', 'reports-api']] as const) {
      expect([name, patched(objectPath(Resources.policy, namespaces[example], name, 'status'))]).toEqual([name, true]);
    }
  });

  it('reads and watches its resources in every namespace (the ClusterRole), and Leases only in its own', async () => {
    const all = [Resources.policy, Resources.ingress, Resources.service, Resources.networkPolicy, Resources.configMap, Resources.policyReport, Resources.namespace, Resources.baseline];
    for (const r of all) {
      expect([r.plural, await status(asOperator.request('GET', collectionPath(r), { verb: 'list', query: { limit: 1 } }))]).toEqual([r.plural, 200]);
      const watch = asOperator.stream(collectionPath(r), { verb: 'watch', query: { watch: 1, timeoutSeconds: 1 } }).then(async (res) => {
        await res.body?.cancel();
      });
      expect([r.plural, await status(watch)]).toEqual([r.plural, 200]);
    }
    expect(await status(asOperator.request('GET', collectionPath(Resources.lease, NS), { verb: 'list' }))).toBe(403); // get/create/update only
    expect(await status(asOperator.request('GET', objectPath(Resources.lease, 'default', 'x'), { verb: 'get' }))).toBe(403);
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `rbac-${suffix}` }, spec: {} };
    expect(await status(asOperator.request('POST', collectionPath(Resources.lease, 'default'), { verb: 'create', body: lease }))).toBe(403);
  });

  it('runs the guard, with its Deployment\'s flags, as the guard\'s own ServiceAccount: it reads policies and Secrets, and changes nothing', async () => {
    const guardUser = `system:serviceaccount:${NS}:${RELEASE}-guard`;
    const asGuard = connect({ kubeconfig: impersonatingKubeconfig(tmp, guardUser) });
    const shop = namespaces.shop ?? 'default';
    const args = await deploymentArgs(adminKubeconfig, RELEASE, 'guard');
    const proc = spawn(process.execPath, [join(repoRoot, 'src/cli/main.ts'), 'guard', ...args, '--bind-address=127.0.0.1:0', '--metrics-bind-address=127.0.0.1:0', '--log-level=info'], {
      env: { ...process.env, KUBECONFIG: impersonatingKubeconfig(tmp, guardUser) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    proc.stdout.on('data', (c: Buffer) => logs.push(...c.toString().split('\n').filter(Boolean)));
    proc.stderr.on('data', (c: Buffer) => logs.push(c.toString()));
    try {
      // The later --bind-address/--metrics-bind-address win; the ports it took are in its log.
      const port = (what: string): number | undefined => {
        for (const l of logs) {
          try {
            const j = JSON.parse(l) as { msg?: string; port?: number; serves?: string[] };
            if (what === 'check' && j.msg === 'Guard listening') return j.port;
            if (what === 'metrics' && j.msg === 'Started HTTP server' && j.serves?.includes('/readyz')) return j.port;
          } catch {
            /* not JSON */
          }
        }
        return undefined;
      };
      await eventually(async () => {
        const m = port('metrics');
        if (m === undefined) throw new Error(`guard not listening yet:\n${logs.join('\n')}`);
        expect((await fetch(`http://127.0.0.1:${m}/readyz`)).status).toBe(200);
      }, 30_000);
      // It read the sidecar example's policy: a request without a key is a 401 with its challenge, not a fail-closed 403.
      const partners = namespaces.partners ?? '';
      const r = await fetch(`http://127.0.0.1:${port('check') ?? 0}/check/${partners}/partner-api`, { headers: { 'X-Original-Method': 'GET', 'X-Original-URL': 'http://partner-api/v1/catalog/1' } });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe(`APIKey realm="${partners}/partner-api", header="X-Api-Key"`);
      expect(logs.filter((l) => /forbidden/i.test(l))).toEqual([]);
    } finally {
      proc.kill('SIGTERM');
    }
    // Read-only: it may list Secrets and policies, and write neither, nor anything else.
    expect(await status(asGuard.request('GET', '/api/v1/secrets', { verb: 'list' }))).toBe(200);
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: `rbac-guard-${suffix}`, namespace: shop }, stringData: { k: 'v' } };
    expect(await status(asGuard.request('POST', `/api/v1/namespaces/${shop}/secrets`, { verb: 'create', body: secret }))).toBe(403);
    expect(await status(asGuard.request('PATCH', objectPath(Resources.policy, shop, 'catalog-api'), { verb: 'patch', body: { metadata: { labels: { x: 'y' } } }, contentType: 'application/merge-patch+json' }))).toBe(403);
    expect(await status(asGuard.request('GET', `/api/v1/namespaces/${shop}/configmaps`, { verb: 'list' }))).toBe(403);
    expect(await status(asGuard.request('GET', `/apis/networking.k8s.io/v1/namespaces/${shop}/ingresses`, { verb: 'list' }))).toBe(403);
  });

  it("is held by the chart's ValidatingAdmissionPolicy: nothing in kube-system, nothing without its label, only Ingress annotations", async () => {
    const shop = namespaces.shop ?? 'default';
    const labels = { 'app.kubernetes.io/managed-by': 'api-security-operator' };
    const cm = (namespace: string, name: string, l: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: l }, data: { k: 'v' } });
    const create = (namespace: string, name: string, l: Record<string, string>): Promise<unknown> =>
      asOperator.request('POST', collectionPath(Resources.configMap, namespace), { verb: 'create', body: cm(namespace, name, l) });
    const denied = async (p: Promise<unknown>): Promise<string> => p.then(() => 'allowed', (e: unknown) => (e instanceof ApiError ? `${e.status} ${e.message}` : String(e)));
    // RBAC allows all three; the admission policy (synced by the API server shortly after install) does not.
    await eventually(async () => expect(await denied(create('kube-system', `vap-${suffix}`, labels))).toMatch(/^(403|422) .*the operator writes nothing in kube-system/), 30_000);
    expect(await denied(create(NS, `vap-${suffix}`, labels))).toMatch(/the operator writes nothing in kube-system or its own namespace/);
    expect(await denied(create(shop, `vap-unlabelled-${suffix}`, {}))).toMatch(/only objects that carry app.kubernetes.io\/managed-by=api-security-operator/);
    const ingressPath = objectPath(Resources.ingress, shop, 'catalog');
    const spec = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'catalog', namespace: shop }, spec: { ingressClassName: 'changed-by-operator' } };
    expect(await denied(asOperator.request('PATCH', ingressPath, { verb: 'patch', query: { fieldManager: 'api-security-operator', force: true }, body: spec, contentType: 'application/apply-patch+yaml' }))).toMatch(/only change the annotations of an Ingress/);
    // What it does write is still allowed: a labelled object in a tenant namespace.
    expect(await denied(create(shop, `vap-labelled-${suffix}`, labels))).toBe('allowed');
    await admin.request('DELETE', objectPath(Resources.configMap, shop, `vap-labelled-${suffix}`), { verb: 'delete' });
  });

  it("refuses a client CA Secret the policy's author may not read (the chart's client-ca admission policy)", async () => {
    const shop = namespaces.shop ?? 'default';
    // tenant-dev may write policies in shop, as a team would, and read no Secret there.
    const role = `tenant-policies-${suffix}`;
    await apply(admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: role, namespace: shop }, rules: [{ apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies'], verbs: ['get', 'create', 'patch', 'update'] }] } as never);
    await apply(admin, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: role, namespace: shop },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: identities.tenant.user }],
    } as never);
    // Like a ServiceAccount token Secret: its ca.crt is the cluster's CA.
    const token = `sa-token-${suffix}`;
    const cluster = (parse(readFileSync(controlPlane().kubeconfigPath, 'utf8')) as { clusters: { cluster: { 'certificate-authority'?: string; 'certificate-authority-data'?: string } }[] }).clusters[0]!.cluster;
    const clusterCa = cluster['certificate-authority-data'] ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8') : readFileSync(cluster['certificate-authority'] ?? '', 'utf8');
    await apply(admin, { apiVersion: 'v1', kind: 'Secret', metadata: { name: token, namespace: shop }, stringData: { 'ca.crt': clusterCa, token: 'not-a-real-token' } } as KubeObject);
    const spec = { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'absent' }], mode: 'Audit', authentication: { mtls: { caSecretRef: token } } };
    const tenant = clientAs('tenant');
    await eventually(async () => {
      const err = await apply(tenant, policy(shop, `mtls-tenant-${suffix}`, spec)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as Error).message).toContain(`you may not read Secret ${token} in this namespace`);
    }, 30_000);
    // Someone who may read it may name it (the admin here).
    await apply(admin, policy(shop, `mtls-admin-${suffix}`, spec));
    await admin.request('DELETE', objectPath(Resources.policy, shop, `mtls-admin-${suffix}`), { verb: 'delete' });
  });

  it('cannot get or write Secrets, update Ingresses, create ClusterRoles or touch Deployments', async () => {
    const shop = namespaces.shop ?? 'default';
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: `rbac-${suffix}`, namespace: shop }, stringData: { k: 'v' } };
    // Secrets: list and watch only (the client-CA label check, metadata only); no get, no write.
    expect(await status(asOperator.request('GET', `/api/v1/namespaces/${shop}/secrets/catalog-tls`, { verb: 'get' }))).toBe(403);
    expect(await status(asOperator.request('POST', `/api/v1/namespaces/${shop}/secrets`, { verb: 'create', body: secret }))).toBe(403);
    expect(await status(asOperator.request('DELETE', `/api/v1/namespaces/${shop}/secrets/catalog-tls`, { verb: 'delete' }))).toBe(403);

    // It may read an Ingress and patch it by server-side apply, but not replace it (PUT).
    const ing = await asOperator.request<KubeObject>('GET', objectPath(Resources.ingress, shop, 'catalog'), { verb: 'get' });
    const replaced = { ...ing, metadata: { ...ing.metadata, labels: { replaced: 'yes' } } };
    expect(await status(asOperator.request('PUT', objectPath(Resources.ingress, shop, 'catalog'), { verb: 'update', body: replaced }))).toBe(403);
    expect(await status(asOperator.request('POST', collectionPath(Resources.ingress, shop), { verb: 'create', body: { ...ing, metadata: { name: 'other', namespace: shop } } }))).toBe(403);
    expect(await status(asOperator.request('DELETE', objectPath(Resources.ingress, shop, 'catalog'), { verb: 'delete' }))).toBe(403);

    const clusterRole = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `rbac-${suffix}` }, rules: [] };
    expect(await status(asOperator.request('POST', collectionPath(Resources.clusterRole), { verb: 'create', body: clusterRole }))).toBe(403);
    expect(await status(asOperator.request('GET', objectPath(Resources.clusterRole, undefined, RELEASE), { verb: 'get' }))).toBe(403);
    expect(await status(asOperator.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, { verb: 'create', body: {} }))).toBe(403);

    // Not even its own Deployment.
    const deployment = `/apis/apps/v1/namespaces/${NS}/deployments/${RELEASE}`;
    expect(await status(asOperator.request('GET', deployment, { verb: 'get' }))).toBe(403);
    expect(await status(asOperator.request('GET', '/apis/apps/v1/deployments', { verb: 'list' }))).toBe(403);
    expect(await status(asOperator.request('PATCH', deployment, { verb: 'patch', body: { spec: { replicas: 5 } }, contentType: 'application/merge-patch+json' }))).toBe(403);
    expect(await status(asOperator.request('DELETE', deployment, { verb: 'delete' }))).toBe(403);

    // Nor change namespaces or baselines, which it only reads.
    expect(await status(asOperator.request('DELETE', objectPath(Resources.namespace, undefined, shop), { verb: 'delete' }))).toBe(403);
    const baseline = { apiVersion: 'apisec.dev/v1alpha1', kind: 'ClusterApiSecurityPolicy', metadata: { name: `rbac-${suffix}` }, spec: {} };
    expect(await status(asOperator.request('POST', collectionPath(Resources.baseline), { verb: 'create', body: baseline }))).toBe(403);

    // Pods: with sidecarInjection only list and watch (the SidecarInjected count, as metadata); no get, no
    // write (the webhook gets each new pod in its AdmissionReview). Nor tokens of other accounts.
    expect(await status(asOperator.request('GET', '/api/v1/pods', { verb: 'list', query: { limit: '1' } }))).toBe(200);
    expect(await status(asOperator.request('GET', `/api/v1/namespaces/${NS}/pods/any`, { verb: 'get' }))).toBe(403);
    expect(await status(asOperator.request('POST', `/api/v1/namespaces/${NS}/pods`, { verb: 'create', body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: `rbac-${suffix}` }, spec: { containers: [{ name: 'c', image: 'x' }] } } }))).toBe(403);
    expect(await status(asOperator.request('DELETE', `/api/v1/namespaces/${NS}/pods/any`, { verb: 'delete' }))).toBe(403);
    // Nor the webhook's configuration or its certificate's Secret: it never registers or rotates itself.
    const injector = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${RELEASE}-sidecar-injector`;
    expect(await status(asOperator.request('GET', injector, { verb: 'get' }))).toBe(403);
    expect(await status(asOperator.request('PATCH', injector, { verb: 'patch', body: { webhooks: [] }, contentType: 'application/merge-patch+json' }))).toBe(403);
    expect(await status(asOperator.request('DELETE', injector, { verb: 'delete' }))).toBe(403);
    expect(await status(asOperator.request('GET', `/api/v1/namespaces/${NS}/secrets/${RELEASE}-webhook-cert`, { verb: 'get' }))).toBe(403);
    const tokenRequest = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [] } };
    expect(await status(asOperator.request('POST', `/api/v1/namespaces/${NS}/serviceaccounts/${RELEASE}/token`, { verb: 'create', body: tokenRequest }))).toBe(403);

    // And the admin confirms nothing changed.
    const after = await admin.request<KubeObject>('GET', objectPath(Resources.ingress, shop, 'catalog'), { verb: 'get' });
    expect(after.metadata.labels?.replaced).toBeUndefined();
    expect((await admin.request<{ spec: { replicas: number } }>('GET', deployment, { verb: 'get' })).spec.replicas).toBe(0);
  });
});

describe('the chart RBAC with watchNamespaces: [one]', () => {
  let admin: KubeClient;
  let asOperator: KubeClient;
  let adminKubeconfig: string;
  let operatorKubeconfig: string;
  let tmp: string;
  let op: Operator | undefined;
  let watched: string;
  let other: string;
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const auditStart = new Date();

  beforeAll(async () => {
    helmBinary();
    admin = clientAs('admin');
    adminKubeconfig = controlPlane().kubeconfigs.admin;
    await installCrds(admin);
    await installPolicyReportCrd(admin);
    watched = await createNamespace(admin, 'rbac-one');
    other = await createNamespace(admin, 'rbac-other');
    for (const ns of [watched, other]) {
      await apply(admin, service(ns, 'api'));
      await apply(admin, ingress(ns, 'api', 'api'));
      await apply(admin, policy(ns, 'api', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }], rateLimit: { requestsPerSecond: 7 } }));
    }
    // Aggregated roles off: the first release already created them (they are named after the release,
    // but one set is enough for this cluster).
    await helmOk(
      ['upgrade', '--install', ONE_NS_RELEASE, chartDir, '--namespace', NS, '--create-namespace', '--set', 'replicaCount=0', '--set', `watchNamespaces={${watched}}`, '--set', 'rbac.aggregateToDefaultRoles=false', '--set', `leaderElection.id=rbac-one-${suffix}`],
      { kubeconfig: adminKubeconfig },
    );
    tmp = mkdtempSync(join(tmpdir(), 'apisec-rbac-one-'));
    operatorKubeconfig = impersonatingKubeconfig(tmp, ONE_NS_USER);
    asOperator = connect({ kubeconfig: operatorKubeconfig });
  }, 15 * 60_000);

  afterAll(async () => {
    if (op && op.proc.exitCode === null) op.proc.kill('SIGKILL');
    await helm(['uninstall', ONE_NS_RELEASE, '--namespace', NS, '--ignore-not-found'], { kubeconfig: adminKubeconfig });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('reconciles its namespace with the Role there, and leaves the other one alone', async () => {
    const args = await deploymentArgs(adminKubeconfig, ONE_NS_RELEASE);
    expect(args).toContain(`--namespace=${watched}`);
    op = startOperator([...args, '--metrics-bind-address=127.0.0.1:0', '--health-probe-bind-address=127.0.0.1:0', `--leader-election-id=rbac-one-${suffix}`], operatorKubeconfig, 'rbac-one');

    const get = (ns: string): Promise<Policy> => admin.request<Policy>('GET', objectPath(Resources.policy, ns, 'api'), { verb: 'get' });
    const p = await eventually(async () => {
      const p = await get(watched);
      if (p.status?.observedGeneration !== p.metadata.generation) throw new Error('not reconciled yet');
      return p;
    }, 60_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- operator logs ---\n${op?.logs.join('\n')}`);
    });
    expect(condition(p, 'Enforced')).toMatchObject({ status: 'True' });
    const ing = await admin.request<KubeObject>('GET', objectPath(Resources.ingress, watched, 'api'), { verb: 'get' });
    expect(ing.metadata.annotations?.['nginx.ingress.kubernetes.io/limit-rps']).toBe('7');
    expect((await get(other)).status).toBeUndefined();
    await eventually(async () => expect(await policyReport(admin, watched)).toBeDefined(), 30_000);
    expect(await policyReport(admin, other)).toBeUndefined();

    op.proc.kill('SIGTERM');
    expect(await op.exited).toBe(0);
    expect(op.logs.filter((l) => /forbidden/i.test(l))).toEqual([]);
  }, 120_000);

  it('was refused nothing while reconciling (kube-apiserver audit log)', () => {
    const log = controlPlane().auditLogPath;
    if (!log) return;
    const events = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes(ONE_NS_USER))
      .map((l) => JSON.parse(l) as { stage: string; verb: string; requestURI: string; impersonatedUser?: { username: string }; responseStatus?: { code: number }; requestReceivedTimestamp: string })
      .filter((e) => (e.stage === 'ResponseComplete' || e.stage === 'ResponseStarted') && e.impersonatedUser?.username === ONE_NS_USER && new Date(e.requestReceivedTimestamp) >= auditStart);
    expect(events.length).toBeGreaterThan(10);
    expect(events.filter((e) => e.responseStatus?.code === 403).map((e) => `${e.verb} ${e.requestURI}`)).toEqual([]);
  });

  it('is refused the namespaced resources of every other namespace, and of all namespaces at once', async () => {
    for (const r of [Resources.policy, Resources.ingress, Resources.service, Resources.networkPolicy, Resources.configMap]) {
      expect([r.plural, await status(asOperator.request('GET', collectionPath(r, watched), { verb: 'list' }))]).toEqual([r.plural, 200]);
      expect([r.plural, await status(asOperator.request('GET', collectionPath(r, other), { verb: 'list' }))]).toEqual([r.plural, 403]);
      expect([r.plural, await status(asOperator.request('GET', collectionPath(r), { verb: 'list' }))]).toEqual([r.plural, 403]);
    }
    const patch = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'api', namespace: other, annotations: { 'apisec.dev/policy': 'x' } } };
    expect(await status(asOperator.request('PATCH', objectPath(Resources.ingress, other, 'api'), { verb: 'patch', query: { fieldManager: 'rbac-test' }, body: patch, contentType: 'application/apply-patch+yaml' }))).toBe(403);
    // The cluster-scoped reads it needs for baselines stay.
    expect(await status(asOperator.request('GET', collectionPath(Resources.namespace), { verb: 'list', query: { limit: 1 } }))).toBe(200);
    expect(await status(asOperator.request('GET', collectionPath(Resources.baseline), { verb: 'list', query: { limit: 1 } }))).toBe(200);
    // Secrets: listed (for the client-CA label, metadata only) in the watched namespace alone, never got.
    expect(await status(asOperator.request('GET', `/api/v1/namespaces/${watched}/secrets`, { verb: 'list', query: { limit: 1 }, accept: METADATA_LIST }))).toBe(200);
    expect(await status(asOperator.request('GET', `/api/v1/namespaces/${other}/secrets`, { verb: 'list' }))).toBe(403);
    expect(await status(asOperator.request('GET', '/api/v1/secrets', { verb: 'list' }))).toBe(403);
    expect(await status(asOperator.request('GET', `/api/v1/namespaces/${watched}/secrets/x`, { verb: 'get' }))).toBe(403);
    // Its own Lease by name (leaderElection.id), no other.
    expect(await status(asOperator.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/rbac-one-${suffix}`, { verb: 'get' }))).toBe(200);
    expect(await status(asOperator.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/someone-elses`, { verb: 'get' }))).toBe(403);
    expect(await status(asOperator.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, { verb: 'list' }))).toBe(403);
  });
});
