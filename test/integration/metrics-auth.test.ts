// --metrics-auth=kubernetes against the real kube-apiserver: the metrics server runs in this process with
// the operator identity's client doing the TokenReviews and SubjectAccessReviews (granted the chart's
// review rules, metricsAuthRules), and is scraped over HTTPS, verified against its self-signed
// certificate, with no token, a garbage one, the tenant's real token before and after RBAC lets it get
// /metrics. An identity without the review rules makes every scrape 503. The chart rendered with
// metrics.auth=kubernetes is accepted by the same API server (server-side dry run).
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { parseAllDocuments, parse } from 'yaml';
import { Agent, fetch } from 'undici';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { reviewAccess, reviewToken } from '../../src/k8s/review.ts';
import { metricsProtection } from '../../src/main.ts';
import { MetricsAuth } from '../../src/observability/metrics-auth.ts';
import { Counter, Registry } from '../../src/observability/metrics.ts';
import { startHttpServer, type HttpServer } from '../../src/observability/server.ts';
import { servingTls } from '../../src/observability/tls.ts';
import { identities } from '../support/controlplane.ts';
import { chartDir, helmBinary, helmOk, KUBE_VERSION } from '../support/helm.ts';
import { clientAs, controlPlane, createNamespace, discover, eventually } from '../support/kube.ts';
import { bindClusterRole, bindOperatorRole, metricsAuthRules } from '../support/operator.ts';

const log = pino({ level: 'silent' });
const suffix = `${process.pid}-${Date.now().toString(36)}`;

/** The bearer token in an identity's kubeconfig (only a local control plane has tokens). */
function tokenOf(kubeconfig: string): string | undefined {
  const cfg = parse(readFileSync(kubeconfig, 'utf8')) as { users?: { user?: { token?: string } }[] };
  return cfg.users?.[0]?.user?.token;
}

/** The metrics server as main.ts wires it, with short cache times so a new binding shows within a second. */
async function serve(client: KubeClient, registry: Registry): Promise<{ server: HttpServer; ca: string }> {
  const auth = new MetricsAuth({
    reviewer: { authenticate: (t, s) => reviewToken(client, t, s), authorize: (u, a, s) => reviewAccess(client, u, a, s) },
    log,
    allowTtlMs: 1_000,
    denyTtlMs: 200,
  });
  const tls = servingTls({ hosts: ['127.0.0.1'], log });
  const checks = { healthz: () => ({ ok: true }), readyz: () => ({ ok: true }) };
  const server = await startHttpServer({ port: 0, host: '127.0.0.1', registry, checks, auth, tls, log });
  return { server, ca: tls.current().cert };
}

describe('/metrics with --metrics-auth=kubernetes, reviewed by the real API server', () => {
  let admin: KubeClient;
  let operator: KubeClient;
  let guard: KubeClient;
  const servers: HttpServer[] = [];
  const registry = new Registry();
  new Counter({ name: 'apisec_scrape_test_total', help: 'A series to find.', registers: [registry] }).inc(3);
  const reader = `apisec-test-metrics-reader-${suffix}`;
  let agent: Agent;

  beforeAll(async () => {
    admin = clientAs('admin');
    operator = clientAs('operator');
    guard = clientAs('guard');
    await bindOperatorRole(admin, 'apisec-test-metrics-auth', metricsAuthRules);
  });

  afterAll(async () => {
    for (const s of servers) await s.close();
    await agent?.close();
    for (const r of [Resources.clusterRoleBinding, Resources.clusterRole]) {
      await admin.request('DELETE', objectPath(r, undefined, reader), { verb: 'delete' }).catch(() => undefined);
    }
    for (const c of [admin, operator, guard]) await c?.close();
  });

  it('answers 401 without or with a garbage token, 403 to the tenant, 200 once RBAC allows it; probes stay open', async () => {
    const { server, ca } = await serve(operator, registry);
    servers.push(server);
    // Only the certificate the server made is trusted, for the name 127.0.0.1: a verified TLS connection.
    agent = new Agent({ connect: { ca } });
    const url = `https://127.0.0.1:${server.port}`;
    const scrape = (token?: string) => fetch(`${url}/metrics`, { dispatcher: agent, headers: token ? { Authorization: `Bearer ${token}` } : {} });

    const none = await scrape();
    expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
    await none.text();
    const garbage = await scrape('not-a-token-the-api-server-knows');
    expect(garbage.status).toBe(401);
    expect(await garbage.text()).not.toContain('not-a-token');

    const token = tokenOf(controlPlane().kubeconfigs.tenant);
    if (!token) return void console.warn('an existing cluster has no tenant token (impersonation): 403/200 not checked');
    const forbidden = await scrape(token);
    expect([forbidden.status, await forbidden.text()]).toEqual([403, `Forbidden: user "${identities.tenant.user}" may not get /metrics\n`]);

    await bindClusterRole(admin, reader, identities.tenant.user, [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    // The denial is remembered for denyTtlMs, and RBAC takes a moment to see the binding: poll.
    const body = await eventually(async () => {
      const res = await scrape(token);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`still ${res.status}: ${text}`);
      return text;
    }, 15_000);
    expect(body).toContain('apisec_scrape_test_total 3');

    for (const probe of ['/healthz', '/readyz']) {
      const res = await fetch(`${url}${probe}`, { dispatcher: agent });
      expect([probe, res.status, await res.text()]).toEqual([probe, 200, 'ok']);
    }
    // A client that trusts another certificate refuses the connection.
    const stranger = new Agent({ connect: { ca: servingTls({ hosts: ['127.0.0.1'], log }).current().cert } });
    await expect(fetch(`${url}/healthz`, { dispatcher: stranger })).rejects.toThrow();
    await stranger.close();
  }, 60_000);

  it('answers 503, not 401 or 200, when the reviews fail (an identity without the review rules)', async () => {
    const { server, ca } = await serve(guard, registry);
    servers.push(server);
    const dispatcher = new Agent({ connect: { ca } });
    const token = tokenOf(controlPlane().kubeconfigs.tenant) ?? 'any';
    const res = await fetch(`https://127.0.0.1:${server.port}/metrics`, { dispatcher, headers: { Authorization: `Bearer ${token}` } });
    expect([res.status, res.headers.get('retry-after'), await res.text()]).toEqual([503, '5', 'Service Unavailable\n']);
    await dispatcher.close();
  });

  it('fails the start with the flag named when --metrics-cert-dir has no key pair', () => {
    expect(() => metricsProtection({ metricsAuth: 'kubernetes', metricsCertDir: '/nonexistent-certs' }, operator, log)).toThrow(/--metrics-cert-dir=\/nonexistent-certs does not load .*tls\.crt and tls\.key/);
    expect(metricsProtection({ metricsAuth: 'none' }, operator, log)).toEqual({});
  });
});

describe('the chart with metrics.auth=kubernetes, on the real API server', () => {
  let admin: KubeClient;
  let ns: string;

  beforeAll(async () => {
    helmBinary();
    admin = clientAs('admin');
    ns = await createNamespace(admin, 'metrics-auth-chart');
  }, 15 * 60_000);

  afterAll(async () => {
    await admin.request('DELETE', objectPath(Resources.namespace, undefined, ns), { verb: 'delete' }).catch(() => undefined);
    await admin.close();
  });

  it.each([
    ['self-signed', [] as string[]],
    ['with certSecret and readers', ['--set', 'metrics.certSecret=metrics-tls', '--set-json', 'metrics.readers=[{"kind":"ServiceAccount","name":"prometheus","namespace":"monitoring"}]']],
  ])('renders objects the API server accepts (%s), the ClusterRole with the review rules', async (_name, sets) => {
    const release = `ma-${suffix}`.slice(0, 30);
    const yaml = await helmOk(['template', release, chartDir, '--namespace', ns, '--kube-version', KUBE_VERSION, '--set', 'metrics.auth=kubernetes', ...sets]);
    const objects = parseAllDocuments(yaml).map((d) => d.toJS() as KubeObject | null).filter((o): o is KubeObject => o !== null);
    for (const o of objects) {
      const [group, version] = o.apiVersion!.includes('/') ? o.apiVersion!.split('/') : ['', o.apiVersion!];
      const type = await discover(admin, group!, version!, o.kind!);
      // Server-side apply, dry run: admission and validation run, nothing is stored.
      await admin.request('PATCH', objectPath(type, type.namespaced ? (o.metadata.namespace ?? ns) : undefined, o.metadata.name), {
        verb: 'patch',
        query: { fieldManager: 'apisec-test', dryRun: 'All', fieldValidation: 'Strict' },
        body: o,
        contentType: 'application/apply-patch+yaml',
      });
    }
    const fullname = `${release}-api-security-operator`;
    const role = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === fullname) as unknown as { rules: unknown[] };
    expect(role.rules).toEqual(expect.arrayContaining(metricsAuthRules));
    const readerRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata.name === `${fullname}-metrics-reader`) as unknown as { rules: unknown[] };
    expect(readerRole.rules).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    const args = (objects.find((o) => o.kind === 'Deployment' && o.metadata.name === fullname) as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } }).spec.template.spec.containers[0]!.args;
    expect(args).toContain('--metrics-auth=kubernetes');
  }, 120_000);
});
