// The sidecar injection webhook on the real API server: the test's kube-apiserver calls the operator's
// webhook (a MutatingWebhookConfiguration with a URL on 127.0.0.1 and the test's CA) for every pod
// created, and what it stores is checked: the sidecar, its volumes and the moved port name in pods
// behind a protected Service of an opted-in namespace or pod; nothing anywhere else; nothing for a pod
// the sidecar would break (the reason in the audit log); and pods still admitted with the webhook down.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { selfSignedCertificate } from '../../src/observability/self-signed.ts';
import { servingTls } from '../../src/observability/tls.ts';
import { SIDECAR_IMAGE, sidecarContainer, sidecarVolumes } from '../../src/render/sidecar-container.ts';
import { webhookConfiguration } from '../../src/webhook/configuration.ts';
import { cacheContext } from '../../src/webhook/context.ts';
import { ANNOTATION_INJECTED } from '../../src/webhook/patch.ts';
import { MUTATE_PATH } from '../../src/webhook/review.ts';
import { LABEL_INJECT } from '../../src/compliance/injection.ts';
import { startWebhookServer, type WebhookServer } from '../../src/webhook/server.ts';
import { RefusalEvents } from '../../src/webhook/events.ts';
import { Writer } from '../../src/k8s/apply.ts';
import { ReportsController } from '../../src/controller/reports.ts';
import { policy } from '../support/fixtures.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, installCrds, installPolicyReportCrd, reconciledPolicy } from '../support/kube.ts';
import { bindOperatorRole, grantOperatorRbac, sidecarInjectionRules, startOperator, type RunningOperator } from '../support/operator.ts';

type Container = { name: string; image?: string; restartPolicy?: string; env?: { name: string; value?: string }[]; ports?: { name?: string; containerPort: number; protocol?: string }[] };
type Pod = {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: { name?: string; generateName?: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[]; volumes?: { name: string }[] };
};

const LABEL = LABEL_INJECT;

describe('sidecar injection webhook', () => {
  let admin: KubeClient;
  let op: RunningOperator;
  let reports: ReportsController;
  let server: WebhookServer;
  let certDir: string;
  let optedIn: string;
  let other: string;
  const configName = `apisec-sidecar-test-${process.pid}`;

  const pod = (ns: string, opts: { labels?: Record<string, string>; ports?: Container['ports']; extra?: Partial<Pod['spec']> } = {}): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'orders-', namespace: ns, labels: { app: 'orders', ...opts.labels } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/orders:1.0', ports: opts.ports ?? [{ name: 'http', containerPort: 3000 }] }], ...opts.extra },
  });
  const create = (p: Pod, dryRun = false): Promise<Pod> =>
    admin.request<Pod>('POST', collectionPath(Resources.pod, p.metadata.namespace), { verb: 'create', body: p, ...(dryRun ? { query: { dryRun: 'All' } } : {}) });
  /** What the API server stored, read back. */
  const stored = async (p: Pod): Promise<Pod> => admin.request<Pod>('GET', objectPath(Resources.pod, p.metadata.namespace, p.metadata.name ?? ''), { verb: 'get' });
  const sidecarOf = (p: Pod): Container | undefined => p.spec.initContainers?.find((c) => c.name === 'apisec-sidecar');

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    optedIn = await createNamespace(admin, 'inject', { [LABEL]: 'enabled' });
    other = await createNamespace(admin, 'inject-off');
    for (const ns of [optedIn, other]) {
      await apply(admin, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders', namespace: ns }, spec: { selector: { app: 'orders' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] } } as KubeObject);
      // No appPort: the webhook forwards to the number of the port the Service targets (http: 3000).
      await apply(admin, policy(ns, 'orders', { targetRefs: [{ group: '', kind: 'Service', name: 'orders' }], rateLimit: { requestsPerSecond: 10 }, sidecar: { port: 8080 } }));
    }
    // A Service that targets a port number: the sidecar is injected (forwarding to that number), the Service needs wiring by hand.
    await apply(admin, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'legacy', namespace: optedIn }, spec: { selector: { app: 'legacy' }, ports: [{ port: 80, targetPort: 3001 }] } } as KubeObject);
    await apply(admin, policy(optedIn, 'legacy', { targetRefs: [{ group: '', kind: 'Service', name: 'legacy' }], rateLimit: { requestsPerSecond: 10 }, sidecar: { port: 8080 } }));
    await bindOperatorRole(admin, 'apisec-test-sidecar-injection', sidecarInjectionRules);
    await installPolicyReportCrd(admin);
    op = await startOperator({ sidecarInjection: { operatorNamespace: 'apisec-system' } });
    // The opted-in namespace's PolicyReport (only that one: the API server is shared), from the same caches.
    const i = op.controller.informers;
    reports = new ReportsController({ client: op.client, actions: new Writer(op.client), log: pino({ level: 'silent' }), sources: { policies: i.policies, ingresses: i.ingresses, services: i.services }, namespace: optedIn, events: false });
    reports.start();
    certDir = mkdtempSync(join(tmpdir(), 'apisec-webhook-'));
    const pair = selfSignedCertificate(['127.0.0.1']);
    writeFileSync(join(certDir, 'tls.crt'), pair.cert);
    writeFileSync(join(certDir, 'tls.key'), pair.key);
    const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
    const writer = new Writer(op.client);
    const refusals = new RefusalEvents({ record: (regarding, event) => writer.recordEvent(regarding, event), log });
    server = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      tls: servingTls({ certDir, log, serves: 'webhook' }),
      context: cacheContext(op.controller.informers, { operatorNamespace: 'apisec-system', image: SIDECAR_IMAGE }),
      ready: () => op.controller.synced,
      log,
      // As main.ts wires it: a refusal becomes a Warning Event regarding the policy, as the operator.
      onOutcome: (o) => void refusals.note(o),
    });
    // The operator has written the policy's sidecar ConfigMap: injected pods are stamped with its digest.
    await eventually(async () => expect(op.controller.informers.configMaps.get(`${optedIn}/apisec-orders-sidecar`)).toBeDefined());
    const clientConfig = { url: `https://127.0.0.1:${server.port}${MUTATE_PATH}`, caBundle: Buffer.from(pair.cert).toString('base64') };
    await apply(admin, webhookConfiguration({ name: configName, operatorNamespace: 'apisec-system', clientConfig }) as KubeObject);
    // The API server picks the new configuration up from its own informer: dry runs until it calls us.
    await eventually(async () => expect(sidecarOf(await create(pod(optedIn), true))).toBeDefined(), 30_000, 250);
  }, 120_000);

  afterAll(async () => {
    await admin?.request('DELETE', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${configName}`, { verb: 'delete' }).catch(() => undefined);
    await server?.close();
    await reports?.stop();
    await op?.stop();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('a pod behind the protected Service is stored with the native sidecar, its volumes and the moved port name', async () => {
    const p = await stored(await create(pod(optedIn)));
    expect(p.metadata.annotations?.[ANNOTATION_INJECTED]).toBe('orders');
    expect(p.spec.initContainers?.map((c) => c.name)).toEqual(['apisec-sidecar']);
    const sidecar = sidecarOf(p)!;
    const expected = sidecarContainer({ image: SIDECAR_IMAGE, port: 8080, appPort: 3000 });
    expect(sidecar).toMatchObject({ ...expected, restartPolicy: 'Always', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] });
    // The Service's targetPort "http" is now the sidecar's; the app keeps its port under another name.
    expect(p.spec.containers[0]?.ports).toEqual([{ name: 'app-http', containerPort: 3000, protocol: 'TCP' }]);
    expect(p.spec.volumes).toMatchObject(sidecarVolumes({ name: 'orders' })); // the server adds defaultMode
  });

  it('a pod that already carries the sidecar keeps it, once (idempotent)', async () => {
    const first = await stored(await create(pod(optedIn)));
    const again = pod(optedIn, { ports: first.spec.containers[0]?.ports, extra: { initContainers: first.spec.initContainers, volumes: first.spec.volumes } });
    const p = await stored(await create(again));
    expect(p.spec.initContainers?.map((c) => c.name)).toEqual(['apisec-sidecar']);
    expect(p.spec.containers[0]?.ports?.map((x) => x.name)).toEqual(['app-http']);
    // Counted as carrying the sidecar: the only change is the annotation.
    expect(p.metadata.annotations?.[ANNOTATION_INJECTED]).toBe('orders');
  });

  it("a Service targeting a port number: sidecar injected, no port renamed, the policy's status names the exact change", async () => {
    const p = await stored(await create(pod(optedIn, { labels: { app: 'legacy' } })));
    expect(p.metadata.annotations?.[ANNOTATION_INJECTED]).toBe('legacy');
    expect(sidecarOf(p)?.ports).toEqual([{ name: 'apisec-proxy', containerPort: 8080, protocol: 'TCP' }]);
    expect(sidecarOf(p)?.env).toEqual([{ name: 'APISEC_APP_PORT', value: '3001' }]);
    expect(p.spec.containers[0]?.ports?.map((x) => x.name)).toEqual(['http']);
    const change = `kubectl patch service legacy --type=json -p '[{"op":"replace","path":"/spec/ports/0/targetPort","value":8080}]'`;
    await reconciledPolicy<KubeObject & { status?: ApiSecurityPolicyStatus }>(admin, optedIn, 'legacy', (current) => {
      expect(current.status?.controls?.find((c) => c.control === 'RateLimit')?.message).toContain(`manual wiring needed, set its targetPort to 8080: ${change}`);
    });
  });

  it("without spec.sidecar.appPort, a pod whose port the Service's name does not find is admitted as it is, with the reason", async () => {
    // Its own namespace: the other cases count the pods, refusals and Events of theirs.
    const ns = await createNamespace(admin, 'inject-lost', { [LABEL]: 'enabled' });
    await apply(admin, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders', namespace: ns }, spec: { selector: { app: 'orders' }, ports: [{ port: 80, targetPort: 'http' }] } } as KubeObject);
    await apply(admin, policy(ns, 'orders', { targetRefs: [{ group: '', kind: 'Service', name: 'orders' }], rateLimit: { requestsPerSecond: 10 }, sidecar: { port: 8080 } }));
    const lost = await eventually(async () => {
      const p = await create(pod(ns, { ports: [{ name: 'web', containerPort: 3000 }] }), true);
      expect(p.metadata.annotations?.['apisec.dev/sidecar-refused']).toBeDefined();
      return p;
    });
    expect(sidecarOf(lost)).toBeUndefined();
    expect(lost.spec.containers[0]?.ports).toEqual([{ name: 'web', containerPort: 3000, protocol: 'TCP' }]);
    expect(lost.metadata.annotations?.['apisec.dev/sidecar-refused']).toMatch(/^set spec.sidecar.appPort: it is not set and Service orders targets port http, which no container of the pod names/);
  });

  it('a changed policy: injected pods are named as reloading it in place, one from before reloads as needing a rollout, a new pod starts with the new config', async () => {
    const before = await stored(await create(pod(optedIn)));
    const started = before.metadata.annotations?.['apisec.dev/sidecar-config'];
    expect(started).toMatch(/^[0-9a-f]{16}$/);
    expect(before.metadata.annotations?.['apisec.dev/sidecar-reload']).toBe('5s');
    // A pod as an operator before in-place reloads injected it: the sidecar, the annotations, no reload annotation.
    const sidecar = sidecarContainer({ image: SIDECAR_IMAGE, port: 8080, appPort: 3000 });
    const older = pod(optedIn, { ports: [{ name: 'app-http', containerPort: 3000 }], extra: { initContainers: [{ ...sidecar, ports: [{ name: 'http', containerPort: 8080 }], restartPolicy: 'Always' }], volumes: sidecarVolumes({ name: 'orders' }) } });
    older.metadata.annotations = { [ANNOTATION_INJECTED]: 'orders', 'apisec.dev/sidecar-config': started ?? '' };
    const old = await stored(await create(older));
    expect(old.metadata.annotations?.['apisec.dev/sidecar-reload']).toBeUndefined();
    await apply(admin, policy(optedIn, 'orders', { targetRefs: [{ group: '', kind: 'Service', name: 'orders' }], rateLimit: { requestsPerSecond: 20 }, sidecar: { port: 8080 } }));
    await reconciledPolicy<KubeObject & { status?: ApiSecurityPolicyStatus }>(admin, optedIn, 'orders', (current) => {
      const c = current.status?.conditions?.find((x) => x.type === 'SidecarConfigCurrent');
      expect(c).toMatchObject({ status: 'False', reason: 'RolloutNeeded' });
      expect(c?.message).toContain(old.metadata.name);
      expect(c?.message).not.toContain(before.metadata.name);
    });
    await admin.request('DELETE', objectPath(Resources.pod, optedIn, old.metadata.name ?? ''), { verb: 'delete', query: { gracePeriodSeconds: '0' } });
    await reconciledPolicy<KubeObject & { status?: ApiSecurityPolicyStatus }>(admin, optedIn, 'orders', (current) => {
      const c = current.status?.conditions?.find((x) => x.type === 'SidecarConfigCurrent');
      expect(c).toMatchObject({ status: 'True', reason: 'ReloadsInPlace' });
      expect(c?.message).toContain(before.metadata.name);
    });
    const after = await eventually(async () => {
      const p = await stored(await create(pod(optedIn)));
      expect(p.metadata.annotations?.['apisec.dev/sidecar-config']).not.toBe(started);
      return p;
    });
    expect(after.metadata.annotations?.['apisec.dev/sidecar-config']).toMatch(/^[0-9a-f]{16}$/);
  });

  it('pods without the opt-in, not behind the Service, or opted out are stored untouched', async () => {
    for (const p of [pod(other), pod(optedIn, { labels: { app: 'billing' } }), pod(optedIn, { labels: { [LABEL]: 'disabled' } })]) {
      const s = await stored(await create(p));
      expect([p.metadata.namespace, p.metadata.labels, s.spec.initContainers, s.spec.containers[0]?.ports?.[0]?.name]).toEqual([p.metadata.namespace, p.metadata.labels, undefined, 'http']);
    }
  });

  it('a pod label opts in where its namespace did not', async () => {
    const p = await stored(await create(pod(other, { labels: { [LABEL]: 'enabled' } })));
    expect(sidecarOf(p)).toBeDefined();
    expect(p.spec.containers[0]?.ports?.[0]?.name).toBe('app-http');
  });

  it("a pod already using the sidecar's port is admitted with its spec unchanged, the reason on the pod, in the audit log and a Warning Event", async () => {
    const p = await stored(await create(pod(optedIn, { ports: [{ name: 'http', containerPort: 3000 }, { name: 'admin', containerPort: 8080 }] })));
    expect(p.spec.initContainers).toBeUndefined();
    expect(p.spec.containers[0]?.ports?.map((x) => x.name)).toEqual(['http', 'admin']);
    const log = controlPlane().auditLogPath;
    if (!log) return; // an existing cluster: no audit log to read
    // The only pod of this namespace the webhook refused: its creation carries the reason.
    const reasons = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes(optedIn) && l.includes('sidecar-refused'))
      .map((l) => JSON.parse(l) as { stage: string; verb: string; objectRef?: { resource?: string; namespace?: string }; annotations?: Record<string, string> })
      .filter((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'pods' && e.objectRef.namespace === optedIn)
      .flatMap((e) => Object.entries(e.annotations ?? {}).filter(([k]) => k.endsWith('/sidecar-refused')).map(([, v]) => v));
    expect(reasons).toEqual([expect.stringMatching(/^container app already uses port 8080, the sidecar's port/)]);
    // The pod carries the reason (its spec is as it was sent), and the policy has a Warning Event saying it.
    expect(p.metadata.annotations?.['apisec.dev/sidecar-refused']).toMatch(/^container app already uses port 8080/);
    const events = await eventually(async () => {
      const list = await admin.request<{ items: { reason: string; note: string; type: string; regarding: { kind: string; name: string } }[] }>('GET', `/apis/events.k8s.io/v1/namespaces/${optedIn}/events`, { verb: 'list' });
      const found = list.items.filter((e) => e.reason === 'SidecarRefused');
      expect(found).toHaveLength(1);
      return found;
    });
    expect(events[0]).toMatchObject({ type: 'Warning', regarding: { kind: 'ApiSecurityPolicy', name: 'orders' }, note: expect.stringMatching(/^A pod \(orders-\*\) was admitted without the sidecar: container app already uses port 8080/) });
  });

  it('with the webhook down, pods are still admitted (failurePolicy Ignore), without the sidecar, and the policy says which', async () => {
    await server.close();
    const s = await stored(await create(pod(optedIn)));
    expect(s.spec.initContainers).toBeUndefined();
    expect(s.spec.containers[0]?.ports?.[0]?.name).toBe('http');
    // Failing open is visible: the policy names the pods behind its Service that run without its sidecar —
    // this one, and the one the webhook refused (its port was taken) — and only those.
    const refused = await eventually(async () => {
      const names = (await admin.request<{ items: Pod[] }>('GET', collectionPath(Resources.pod, optedIn), { verb: 'list' })).items.filter((x) => x.metadata.labels?.app === 'orders' && !x.metadata.annotations?.[ANNOTATION_INJECTED] && x.metadata.labels[LABEL] !== 'disabled');
      expect(names.length).toBe(2);
      return names.map((p) => p.metadata.name!).sort();
    });
    expect(refused).toContain(s.metadata.name);
    const p = await reconciledPolicy<KubeObject & { status?: ApiSecurityPolicyStatus }>(admin, optedIn, 'orders', (current) => {
      expect(current.status?.conditions?.find((c) => c.type === 'SidecarInjected')).toMatchObject({ status: 'False', reason: 'PodsWithoutSidecar' });
      const message = current.status?.conditions?.find((c) => c.type === 'SidecarInjected')?.message ?? '';
      for (const name of refused) expect(message).toContain(name);
      // The refused one with its reason.
      expect(message).toMatch(/\(refused: container app already uses port 8080, the sidecar's port/);
    });
    expect(p.status?.conditions?.find((c) => c.type === 'SidecarInjected')?.message).toMatch(/^2 of \d+ opted-in pod\(s\) behind the Services run without the sidecar/);
    // And the namespace's PolicyReport has it as a fail of the policy.
    await eventually(async () => {
      const report = await admin.request<{ results: { policy: string; rule: string; result: string; message: string }[] }>('GET', objectPath(Resources.policyReport, optedIn, 'api-security-operator'), { verb: 'get' });
      const r = report.results.find((x) => x.policy === 'orders' && x.rule === 'SidecarInjected');
      expect(r).toMatchObject({ result: 'fail', message: expect.stringMatching(/^PodsWithoutSidecar: 2 of \d+ opted-in pod/) });
    }, 30_000);
  });
});
