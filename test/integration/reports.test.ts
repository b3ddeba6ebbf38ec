// The reports controller against a real API server, alongside the policy controller: the inventory of
// uncovered APIs (PolicyReport fail results, metrics, one Event), each policy's controls in the namespace's
// PolicyReport, a report bounded to 500 results, zero writes at steady state and after a restart, and a
// cluster without the PolicyReport API. The CRD is the upstream one, read from the Go module cache
// (test/tools/policyreport-crd.sh), never copied into the repository.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ApiSecurityPolicyStatus, ControlResult } from '../../src/api/v1alpha1.ts';
import { canonical } from '../../src/controller/state.ts';
import { POLICY_REPORT, ReportsController, type ReportsOptions } from '../../src/controller/reports.ts';
import { Writer } from '../../src/k8s/apply.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, objectPath, type KubeObject, type ResourceType } from '../../src/k8s/resources.ts';
import { Registry, inventoryMetrics } from '../../src/observability/metrics.ts';
import { ANNOTATION_OMITTED, renderPolicyReport, type PolicyReport } from '../../src/render/policy-report.ts';
import { repoRoot } from '../support/controlplane.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, getOrUndefined, installCrds, loadYamlFile, waitEstablished } from '../support/kube.ts';
import { bindOperatorRole, grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
type StoredReport = KubeObject & Pick<PolicyReport, 'summary' | 'results'>;

/** What the reports controller needs on top of the operator's rules (the chart must grant the same). */
const reportsRules = [
  { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
];

const MUTATING = new Set(['create', 'update', 'patch', 'delete']);
const RESULT_OF: Record<ControlResult['result'], string> = { Pass: 'pass', Fail: 'fail', Warn: 'warn', NotApplicable: 'skip' };

function policyReportCrd(): KubeObject {
  const run = spawnSync('bash', [join(repoRoot, 'test/tools/policyreport-crd.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.status !== 0) throw new Error(`test/tools/policyreport-crd.sh failed (exit ${run.status}); see above. Alternative: POLICYREPORT_CRD=<path>.`);
  const path = run.stdout.trim().split('\n').pop() ?? '';
  const [crd] = loadYamlFile(path);
  if (!crd || crd.metadata.name !== 'policyreports.wgpolicyk8s.io') throw new Error(`${path} is not the PolicyReport CRD`);
  return crd;
}

/** A group the tests install and remove at will: the upstream CRD, renamed in memory. */
const TEST_GROUP = 'reports-test.apisec.dev';

async function grantReportsRbac(admin: KubeClient): Promise<void> {
  await bindOperatorRole(admin, 'apisec-test-reports', [...reportsRules, { ...reportsRules[0]!, apiGroups: [TEST_GROUP] }]);
}

interface RunningReports {
  reports: ReportsController;
  /** Every request of the reports controller's own client, "verb resource status". */
  requests: string[];
  /** Its mutating requests that succeeded, "verb resource". */
  writes: string[];
  reconciles: number;
  /** Log lines at warn and above. */
  warnings: string[];
  /** A metric sample as main.ts registers it, or undefined when the series is absent. */
  metric(name: 'apisec_uncovered_apis' | 'apisec_apis', labels: Record<string, string>): Promise<number | undefined>;
  idle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Runs a reports controller on the policy controller's caches, with its own client (to count its requests) and metrics. */
async function startReports(op: RunningOperator, namespace: string, opts: Partial<ReportsOptions> = {}): Promise<RunningReports> {
  const client = clientAs('operator');
  const requests: string[] = [];
  const writes: string[] = [];
  client.onRequest((verb, resource, status) => {
    requests.push(`${verb} ${resource} ${status}`);
    if (MUTATING.has(verb) && status >= 200 && status < 300) writes.push(`${verb} ${resource}`);
  });
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  let reconciles = 0;
  const i = op.controller.informers;
  const reports = new ReportsController({
    client,
    actions: new Writer(client),
    log,
    sources: { policies: i.policies, ingresses: i.ingresses, services: i.services },
    namespace,
    backoff: { baseDelayMs: 100, maxDelayMs: 2000 },
    onReconcile: () => void reconciles++,
    ...opts,
  });
  // The registration lines of main.ts.
  const registry = new Registry();
  inventoryMetrics(registry, reports);
  reports.start();
  await reports.settled;
  return {
    reports,
    requests,
    writes,
    warnings,
    get reconciles() {
      return reconciles;
    },
    async metric(name, labels) {
      const want = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}} `;
      const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(want));
      return line === undefined ? undefined : Number(line.slice(want.length));
    },
    async idle(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let quietSince = 0;
      while (Date.now() < deadline) {
        const busy = !reports.quiet;
        if (busy) quietSince = 0;
        else if (quietSince === 0) quietSince = Date.now();
        if (quietSince && Date.now() - quietSince > 500) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('reports controller did not become idle');
    },
    stop: () => reports.stop(),
  };
}

const getReport = (c: KubeClient, ns: string): Promise<StoredReport | undefined> => getOrUndefined<StoredReport>(c, objectPath(POLICY_REPORT, ns, 'api-security-operator'));
const inventoryFails = (r: StoredReport | undefined): string[] =>
  (r?.results ?? []).filter((x) => x.policy === 'apisec-inventory').map((x) => `${x.result} ${x.resources?.[0]?.kind}/${x.resources?.[0]?.name}`);
const total = (s: PolicyReport['summary']): number => s.pass + s.fail + s.warn + s.error + s.skip;
async function uncoveredEvents(c: KubeClient, ns: string, name: string): Promise<number> {
  const list = await c.request<{ items: { reason: string; type: string; regarding: { kind: string; name: string } }[] }>('GET', collectionPath(Resources.event, ns), { verb: 'list' });
  return list.items.filter((e) => e.reason === 'UncoveredAPI' && e.type === 'Warning' && e.regarding.kind === 'Ingress' && e.regarding.name === name).length;
}

describe('reports controller', () => {
  let admin: KubeClient;
  let crd: KubeObject;

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    await grantReportsRbac(admin);
    crd = policyReportCrd();
    await apply(admin, crd);
    await waitEstablished(admin, crd.metadata.name);
  });

  describe('inventory and PolicyReport', () => {
    let ns: string;
    let op: RunningOperator;
    let rep: RunningReports;
    const baselined = new Set<string>();

    beforeAll(async () => {
      ns = await createNamespace(admin, 'reports');
      await apply(admin, service(ns, 'web'));
      await apply(admin, { ...service(ns, 'np'), spec: { type: 'NodePort', selector: { app: 'np' }, ports: [{ port: 80, targetPort: 8080 }] } });
      await apply(admin, ingress(ns, 'open', 'web'));
      op = await startOperator({ namespace: ns });
      rep = await startReports(op, ns, { baselineFor: (n) => (baselined.has(n) ? 'org-baseline' : undefined) });
      expect(rep.reports.state).toBe('enabled');
    });

    afterAll(async () => {
      await rep?.stop();
      await op?.stop();
    });

    it('lists an uncovered Ingress and an exposed Service: fail results, metrics and one Event', async () => {
      const report = await eventually(async () => {
        const r = await getReport(admin, ns);
        expect(inventoryFails(r)).toEqual(['fail Ingress/open', 'fail Service/np']);
        return r;
      });
      expect(report?.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('api-security-operator');
      expect(report?.summary).toEqual({ pass: 0, fail: 2, warn: 0, error: 0, skip: 0 });
      const open = report?.results.find((x) => x.resources?.[0]?.name === 'open');
      expect(open).toMatchObject({ rule: 'covered', severity: 'high', category: 'API Inventory', source: 'api-security-operator' });
      expect(open?.message).toContain('hosts open.example.com; paths /');
      expect(open?.resources?.[0]).toMatchObject({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: ns, name: 'open' });
      expect(open?.resources?.[0]?.uid).toMatch(/^[0-9a-f-]{36}$/);
      await eventually(async () => {
        expect(await rep.metric('apisec_uncovered_apis', { namespace: ns, kind: 'Ingress' })).toBe(1);
        expect(await rep.metric('apisec_uncovered_apis', { namespace: ns, kind: 'Service' })).toBe(1);
        expect(await rep.metric('apisec_apis', { coverage: 'none' })).toBe(2);
        expect(await uncoveredEvents(admin, ns, 'open')).toBe(1);
      });
    });

    it('takes an Ingress out of the inventory once a policy covers it', async () => {
      await apply(
        admin,
        policy(ns, 'open', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'open' }], tls: { httpsOnly: true }, rateLimit: { requestsPerSecond: 10 }, network: { defaultDeny: true } }),
      );
      await eventually(async () => expect(inventoryFails(await getReport(admin, ns))).toEqual(['fail Service/np']));
      await eventually(async () => {
        expect(await rep.metric('apisec_uncovered_apis', { namespace: ns, kind: 'Ingress' })).toBeUndefined();
        expect(await rep.metric('apisec_apis', { coverage: 'policy' })).toBe(1);
        expect(await rep.metric('apisec_apis', { coverage: 'none' })).toBe(1);
      });
      expect(await uncoveredEvents(admin, ns, 'open')).toBe(1);
    });

    it("lists each policy's controls with the right result and a summary of everything", async () => {
      const controls = await eventually(async () => {
        const p = await getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, 'open'));
        expect(p?.status?.observedGeneration).toBe(p?.metadata.generation);
        expect(p?.status?.controls).toHaveLength(10);
        return p?.status?.controls ?? [];
      });
      const report = await eventually(async () => {
        const r = await getReport(admin, ns);
        expect(r?.results.filter((x) => x.policy === 'open')).toHaveLength(10);
        return r as StoredReport;
      });
      const got = Object.fromEntries(report.results.filter((x) => x.policy === 'open').map((x) => [x.rule, x.result]));
      expect(got).toEqual(Object.fromEntries(controls.map((c) => [c.control, RESULT_OF[c.result]])));
      expect(new Set(Object.values(got))).toEqual(new Set(['pass', 'fail', 'warn', 'skip'])); // the spec yields every kind
      const count = (v: string): number => report.results.filter((x) => x.result === v).length;
      expect(report.summary).toEqual({ pass: count('pass'), fail: count('fail'), warn: count('warn'), error: 0, skip: count('skip') });
      const rateLimit = report.results.find((x) => x.policy === 'open' && x.rule === 'RateLimit');
      expect(rateLimit).toMatchObject({ result: 'pass', severity: 'high', source: 'api-security-operator', properties: { enforcement: 'Enforced' } });
      expect(rateLimit?.resources).toEqual([expect.objectContaining({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'open', namespace: ns })]);
      // Fails first, then warns, then the rest.
      const ranks = report.results.map((x) => ['fail', 'warn', 'error', 'pass', 'skip'].indexOf(x.result));
      expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
    });

    it('does not count a baseline that selects the namespace as coverage: it writes nothing onto the API', async () => {
      baselined.add(ns);
      rep.reports.resyncAll();
      await rep.idle();
      await eventually(async () => expect(inventoryFails(await getReport(admin, ns))).toEqual(['fail Service/np']));
      expect(await rep.metric('apisec_apis', { coverage: 'none' })).toBe(1);
      expect(await rep.metric('apisec_apis', { coverage: 'baseline' })).toBe(0); // it wrote nothing onto the API
      baselined.delete(ns);
      rep.reports.resyncAll();
      await eventually(async () => expect(inventoryFails(await getReport(admin, ns))).toEqual(['fail Service/np']));
    });

    it('makes no write in 10 s of converged idling, across a full resync, and after a restart', async () => {
      await op.idle();
      await rep.idle();
      const before = rep.writes.length;
      const reconcilesBefore = rep.reconciles;
      const requestsBefore = rep.requests.length;
      await new Promise((r) => setTimeout(r, 5000));
      rep.reports.resyncAll(); // every namespace and the inventory again, as a baseline change would
      await new Promise((r) => setTimeout(r, 5000));
      await rep.idle();
      expect(rep.writes.slice(before)).toEqual([]);
      expect(rep.reconciles - reconcilesBefore).toBeGreaterThanOrEqual(2); // it did re-check
      expect(rep.requests.slice(requestsBefore)).toEqual([]); // not even a read: everything comes from caches
      process.stderr.write(`reports idle: ${rep.writes.length - before} writes, ${rep.requests.length - requestsBefore} requests, ${rep.reconciles - reconcilesBefore} reconciles in 10 s\n`);

      // A new process life: the report is read from the cache and compared, not rewritten.
      await rep.stop();
      rep = await startReports(op, ns, { baselineFor: (n) => (baselined.has(n) ? 'org-baseline' : undefined) });
      await rep.idle();
      await new Promise((r) => setTimeout(r, 2000));
      await rep.idle();
      expect(rep.writes).toEqual([]);
      process.stderr.write(`reports restart: ${rep.writes.length} writes, requests ${JSON.stringify(rep.requests.filter((x) => !x.startsWith('watch')))}\n`);
    }, 40_000);

    it('announces an Ingress again when it re-enters the inventory, and deletes the report when nothing is left', async () => {
      await admin.request('DELETE', objectPath(Resources.policy, ns, 'open'), { verb: 'delete' });
      await eventually(async () => expect(inventoryFails(await getReport(admin, ns))).toEqual(['fail Ingress/open', 'fail Service/np']));
      await eventually(async () => expect(await uncoveredEvents(admin, ns, 'open')).toBe(2));
      for (const [r, name] of [[Resources.ingress, 'open'], [Resources.service, 'np']] as const) await admin.request('DELETE', objectPath(r, ns, name), { verb: 'delete' });
      await eventually(async () => expect(await getReport(admin, ns)).toBeUndefined());
      expect(rep.writes.filter((w) => w === 'delete policyreports')).toHaveLength(1);
      await eventually(async () => expect(await rep.metric('apisec_apis', { coverage: 'none' })).toBe(0));
      expect(await rep.metric('apisec_uncovered_apis', { namespace: ns, kind: 'Ingress' })).toBeUndefined();
    });
  });

  describe('a bounded report', () => {
    let ns: string;
    let op: RunningOperator;
    let rep: RunningReports;

    beforeAll(async () => {
      ns = await createNamespace(admin, 'reports-bounded');
      op = await startOperator({ namespace: ns });
      rep = await startReports(op, ns);
    });

    afterAll(async () => {
      await rep?.stop();
      await op?.stop();
    });

    it('keeps 500 of 60 policies × 10 controls, fails and warns first, and counts all 600 in the summary', async () => {
      const started = Date.now();
      for (let i = 0; i < 60; i++) {
        await apply(admin, policy(ns, `api-${String(i).padStart(2, '0')}`, { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: `api-${i}` }], rateLimit: { requestsPerSecond: 10 + i } }));
      }
      const report = await eventually(async () => {
        const r = await getReport(admin, ns);
        expect(r && total(r.summary)).toBe(600);
        return r as StoredReport;
      }, 45_000);
      process.stderr.write(`bounded report: 60 policies reported in ${Date.now() - started} ms, ${JSON.stringify(report).length} bytes, ${rep.writes.length} report writes, ${op.writes.length} operator writes\n`);
      expect(report.results).toHaveLength(500);
      expect(report.metadata.annotations?.[ANNOTATION_OMITTED]).toBe('101');
      const note = report.results.at(-1);
      expect(note).toMatchObject({ policy: 'apisec-report', rule: 'truncated', result: 'skip', properties: { omitted: '101', total: '600' } });
      const kept = report.results.slice(0, -1);
      // Every fail and warn is kept; what is left out are passes and skips.
      expect(kept.filter((x) => x.result === 'fail')).toHaveLength(report.summary.fail);
      expect(kept.filter((x) => x.result === 'warn')).toHaveLength(report.summary.warn);
      expect(kept.filter((x) => x.result === 'pass').length + kept.filter((x) => x.result === 'skip').length).toBe(499 - report.summary.fail - report.summary.warn);
      await op.idle();
      await rep.idle();
      const before = rep.writes.length;
      await new Promise((r) => setTimeout(r, 3000));
      expect(rep.writes.slice(before)).toEqual([]);
    }, 60_000);

    it('renders reports the upstream CRD accepts with strict field validation, and that round-trip exactly', async () => {
      const rendered = renderPolicyReport({
        namespace: ns,
        policies: [
          {
            name: 'p',
            targets: [{ kind: 'Ingress', name: 'web', uid: '00000000-0000-0000-0000-000000000001' }, { kind: 'Service', name: 'svc' }],
            controls: [
              { control: 'HTTPSOnly', result: 'Warn', enforcement: 'Enforced', fidelity: 'Approximated', message: 'm', remediation: 'r' },
              { control: 'CORS', result: 'NotApplicable', enforcement: 'NotEnforced', message: 'n/a' },
            ],
          },
          { name: 'bad', targets: [], accepted: { status: 'False', reason: 'InvalidSpec', message: 'x' } },
        ],
        uncovered: [{ kind: 'Service', name: 'lb', serviceType: 'LoadBalancer' }, { kind: 'Ingress', name: 'open', hosts: ['*'], paths: ['/'] }],
        maxResults: 4,
      });
      if (!rendered) throw new Error('nothing rendered');
      expect(rendered.results.at(-1)?.rule).toBe('truncated'); // every kind of result, the note included
      const copy = { ...rendered, metadata: { ...rendered.metadata, name: 'strict-check', labels: { 'apisec.dev/test': 'strict' } } };
      const stored = await apply<StoredReport>(admin, copy as unknown as KubeObject, 'apisec-test', 'Strict');
      expect(canonical(stored.results)).toBe(canonical(rendered.results));
      expect(canonical(stored.summary)).toBe(canonical(rendered.summary));
    });
  });

  describe('without the PolicyReport API', () => {
    let ns: string;
    let op: RunningOperator;
    const absent: ResourceType = { ...POLICY_REPORT, group: 'reports.apisec-test.invalid' };

    beforeAll(async () => {
      ns = await createNamespace(admin, 'reports-nocrd');
      await apply(admin, service(ns, 'web'));
      await apply(admin, ingress(ns, 'open', 'web'));
      op = await startOperator({ namespace: ns });
    });

    afterAll(async () => {
      await op?.stop();
    });

    it('notices at start, says so once, and runs without reports: no retry loop, metrics still work', async () => {
      const rep = await startReports(op, ns, { resource: absent, events: false });
      try {
        expect(await rep.reports.settled).toBe('disabled');
        expect(rep.reports.state).toBe('disabled');
        rep.reports.resyncAll();
        await new Promise((r) => setTimeout(r, 5000));
        await rep.idle();
        // One discovery request (404) in 5 s, nothing else; the next look is due in 5 minutes.
        expect(rep.requests).toEqual(['get unknown 404']);
        expect(rep.warnings.filter((l) => l.includes('not served'))).toHaveLength(1);
        expect(await rep.metric('apisec_uncovered_apis', { namespace: ns, kind: 'Ingress' })).toBe(1);
        expect(rep.reports.health()).toEqual([]);
        expect(await getReport(admin, ns)).toBeUndefined();
      } finally {
        await rep.stop();
      }
    });

    it('looks again slowly when asked to, and never writes a report', async () => {
      const rep = await startReports(op, ns, { resource: absent, events: false, rediscoverMs: 1000 });
      try {
        await new Promise((r) => setTimeout(r, 4500));
        const looks = rep.requests.filter((r) => r === 'get unknown 404').length;
        expect(looks).toBeGreaterThanOrEqual(4);
        expect(looks).toBeLessThanOrEqual(6);
        expect(rep.writes).toEqual([]);
        expect(rep.warnings.filter((l) => l.includes('not served'))).toHaveLength(1);
      } finally {
        await rep.stop();
      }
    });

    it('stops reporting when the API goes away while running, and starts again when it is back', async () => {
      const testCrd = { ...crd, metadata: { name: `policyreports.${TEST_GROUP}` }, spec: { ...(crd.spec as object), group: TEST_GROUP } } as KubeObject;
      const resource: ResourceType = { ...POLICY_REPORT, group: TEST_GROUP };
      const path = objectPath(resource, ns, 'api-security-operator');
      const crdPath = objectPath(Resources.crd, undefined, testCrd.metadata.name);
      await apply(admin, testCrd);
      await waitEstablished(admin, testCrd.metadata.name);
      const rep = await startReports(op, ns, { resource, events: false, rediscoverMs: 1000 });
      try {
        expect(rep.reports.state).toBe('enabled');
        await eventually(async () => expect(await getOrUndefined(admin, path)).toBeDefined());

        await admin.request('DELETE', crdPath, { verb: 'delete' });
        await eventually(async () => expect(await getOrUndefined(admin, crdPath)).toBeUndefined(), 30_000);
        await eventually(async () => expect(rep.reports.state).toBe('disabled'));
        expect(rep.reports.health()).toEqual([]); // its informer is stopped, not failing in a loop
        const from = rep.requests.length;
        rep.reports.resyncAll();
        await new Promise((r) => setTimeout(r, 4000));
        const after = rep.requests.slice(from);
        process.stderr.write(`reports without the API for 4 s: ${JSON.stringify(after)}\n`);
        expect(after.every((r) => r.startsWith('get unknown'))).toBe(true); // only the slow discovery
        expect(after.length).toBeLessThanOrEqual(5);
        expect(rep.warnings.filter((l) => l.includes('not served'))).toHaveLength(1);

        await apply(admin, testCrd);
        await waitEstablished(admin, testCrd.metadata.name);
        await eventually(async () => expect(rep.reports.state).toBe('enabled'));
        await eventually(async () => expect(await getOrUndefined(admin, path)).toBeDefined());
      } finally {
        await rep.stop();
        await admin.request('DELETE', crdPath, { verb: 'delete' }).catch(() => undefined);
      }
    }, 60_000);
  });
});
