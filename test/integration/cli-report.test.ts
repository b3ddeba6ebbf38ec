// `apisec report` against the real API server, as a process: every API with its policy before and after
// the operator reconciles, uncovered APIs, the conflicting younger policy, KUBECONFIG and --context, and
// one-line failures with exit code 2 (no permission, an unknown context, an unreachable cluster).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { ReportRow } from '../../src/cli/report.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { repoRoot } from '../support/controlplane.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

const BIN = join(repoRoot, 'bin/apisec.js');
// No ~/.kube/config and no KUBECONFIG from the developer's shell: every test names its cluster.
const HOME = mkdtempSync(join(tmpdir(), 'apisec-home-'));

function apisec(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME, ...env },
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

interface JsonReport {
  apis: ReportRow[];
  summary: { apis: number; policies: number; uncovered: number };
}

const row = (r: ReportRow): string =>
  `${r.api} ${r.target.kind}/${r.target.name} ${r.policy ?? '<none>'} ${r.mode ?? '-'} ${r.score ?? '-'} ${r.failing === null ? '-' : r.failing.join(',') || 'none'}${r.problem ? ` [${r.problem}]` : ''}`;

const SPEC = {
  targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'shop' }],
  tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000 } },
  authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'https://auth.example.com/oauth2/auth' } },
  authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/*'] }] },
  rateLimit: { requestsPerSecond: 20 },
  requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET'] },
  waf: { enabled: true },
  network: { defaultDeny: true },
  logging: { accessLog: true },
};

describe('apisec report against a cluster', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator | undefined;
  let tmp: string;

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    ns = await createNamespace(admin, 'cli-report');
    tmp = mkdtempSync(join(tmpdir(), 'apisec-report-'));
    await apply(admin, service(ns, 'shop'));
    await apply(admin, ingress(ns, 'shop', 'shop'));
    await apply(admin, policy(ns, 'shop-api', SPEC));
    // Created later, so younger: it loses the Ingress to shop-api, and it has a failing control.
    await new Promise((r) => setTimeout(r, 1100));
    await apply(admin, policy(ns, 'shop-legacy', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'shop' }], mode: 'Audit' }));
    // Uncovered: an Ingress without a policy, and a NodePort Service.
    await apply(admin, ingress(ns, 'forgotten', 'shop'));
    await apply(admin, { ...service(ns, 'debug'), spec: { type: 'NodePort', selector: { app: 'debug' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } });
  });

  afterAll(async () => {
    await op?.stop();
    for (const dir of [tmp, HOME]) rmSync(dir, { recursive: true, force: true });
  });

  it('lists every API with its policy, "-" for status not reported yet, and the uncovered APIs', () => {
    const res = apisec(['report', '--kubeconfig', controlPlane().kubeconfigs.admin, '-n', ns, '-o', 'json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as JsonReport;
    expect(out.apis.map(row)).toEqual([
      '(NodePort) Service/debug <none> - - -',
      'forgotten.example.com/ Ingress/forgotten <none> - - -',
      'shop.example.com/ Ingress/shop shop-api Enforce - -',
      'shop.example.com/ Ingress/shop shop-legacy Audit - - [Conflicted (governed by shop-api)]',
    ]);
    expect(out.summary).toEqual({ apis: 4, policies: 2, uncovered: 2 });
  });

  it('shows the score and failing controls once the operator has reconciled, as a table via KUBECONFIG', async () => {
    await grantOperatorRbac(admin);
    op = await startOperator({ namespace: ns });
    await eventually(async () => {
      for (const name of ['shop-api', 'shop-legacy']) {
        const p = await admin.request<KubeObject & { status?: ApiSecurityPolicyStatus }>('GET', objectPath(Resources.policy, ns, name), { verb: 'get' });
        if (p.status?.observedGeneration !== p.metadata.generation) throw new Error(`${name} not reconciled yet`);
      }
    }, 30_000);

    const res = apisec(['report', '-n', ns], { KUBECONFIG: controlPlane().kubeconfigs.admin });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const table = res.stdout.split('\n').map((l) => l.trimEnd().split(/\s{2,}/));
    expect(table[0]).toEqual(['NAMESPACE', 'API', 'TARGET', 'POLICY', 'MODE', 'SCORE', 'FAILING']);
    expect(table.slice(1, 5)).toEqual([
      [ns, '(NodePort)', 'Service/debug', '<none>', '-', '-', 'UNCOVERED'],
      [ns, 'forgotten.example.com/', 'Ingress/forgotten', '<none>', '-', '-', 'UNCOVERED'],
      [ns, 'shop.example.com/', 'Ingress/shop', 'shop-api', 'Enforce', '55', 'Authorization, RequestLimits'], // rules and a method list nothing enforces yet,
      // Audit mode, no target (lost to shop-api): the operator's score of the spec alone.
      [ns, 'shop.example.com/', 'Ingress/shop', 'shop-legacy', 'Audit', expect.stringMatching(/^\d+$/), expect.stringMatching(/^Conflicted \(governed by shop-api\), .*RateLimit/)],
    ]);
    expect(res.stdout).toContain('\n1 API under 2 policies, 2 uncovered APIs.\n');
  });

  it('reads all namespaces by default, and picks the context with --context', () => {
    const res = apisec(['report', '--kubeconfig', controlPlane().kubeconfigs.admin, '--context', 'apisec-test', '-o', 'json']);
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as JsonReport;
    expect(out.apis.filter((r) => r.namespace === ns)).toHaveLength(4);
  });

  it('an unknown context → exit 2, one line naming the contexts', () => {
    const res = apisec(['report', '--kubeconfig', controlPlane().kubeconfigs.admin, '--context', 'prod']);
    expect(res).toEqual({ code: 2, stdout: '', stderr: 'apisec: context "prod" is not in the kubeconfig (contexts: apisec-test)\n' });
  });

  it('an identity without permission → exit 2, one line', () => {
    const res = apisec(['report', '--kubeconfig', controlPlane().kubeconfigs.tenant]);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/^apisec: not allowed to list apisecuritypolicies: 403 Forbidden: .+\n$/);
  });

  it('an unreachable cluster (a closed port on 127.0.0.1) → exit 2, one line', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const kc = parse(readFileSync(controlPlane().kubeconfigs.admin, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    for (const c of kc.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
    const path = join(tmp, 'closed.kubeconfig');
    writeFileSync(path, stringify(kc));
    const res = apisec(['report', '--kubeconfig', path]);
    expect(res).toEqual({ code: 2, stdout: '', stderr: `apisec: cannot reach the cluster at https://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n` });
  });

  it('a missing kubeconfig file → exit 2, one line', () => {
    const res = apisec(['report'], { KUBECONFIG: join(tmp, 'absent.kubeconfig') });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^apisec: cannot load kubeconfig .*absent\.kubeconfig: .*no such file or directory.*\n$/);
  });
});
