// Faults of the API server and of the connection to it, injected for real: this file starts its own
// control plane (kube-apiserver + etcd), and the operator process (`node src/main.ts`) reaches it
// through a TCP proxy on 127.0.0.1 that can cut or stall connections. Each case counts lost updates: a
// change whose final state never shows in the owned objects and the policy's status (goal 0), and
// prints what it saw. Every wait is bounded.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { apiServerControl, serverControl, stopControlPlane, type ControlPlaneInfo } from '../support/controlplane.ts';
import { compactEtcd, startFaultCluster } from '../support/fault-cluster.ts';
import { policy, service } from '../support/fixtures.ts';
import { apply, eventually } from '../support/kube.ts';
import { spawnOperator, type OperatorProcess } from '../support/operator-process.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const N = 20;
const report: Record<string, unknown> = {};

describe('faults of the API server and the connection to it', () => {
  let cp: ControlPlaneInfo;
  let admin: KubeClient;
  let proxy: TcpProxy;
  let op: OperatorProcess;
  let ns: string;

  const policies = async (): Promise<Policy[]> => (await admin.request<{ items: Policy[] }>('GET', collectionPath(Resources.policy, ns), { verb: 'list' })).items;
  const networkPolicies = async (): Promise<string[]> =>
    (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.networkPolicy, ns), { verb: 'list' })).items.map((o) => o.metadata.ownerReferences?.[0]?.name ?? '');
  const enforced = (p: Policy): boolean => p.status?.observedGeneration === p.metadata.generation && p.status?.conditions?.some((c) => c.type === 'Enforced' && c.status === 'True') === true;
  /** Policies whose latest generation is not reflected as Enforced with its NetworkPolicy: lost so far. */
  const notConverged = async (): Promise<string[]> => {
    const nps = await networkPolicies();
    return (await policies()).filter((p) => !enforced(p) || !nps.includes(p.metadata.name)).map((p) => p.metadata.name);
  };
  const isEnforced = (all: Policy[], name: string): boolean => {
    const p = all.find((x) => x.metadata.name === name);
    return p !== undefined && enforced(p);
  };
  const spec = (name: string, extra: Record<string, unknown> = {}) => ({ targetRefs: [{ group: '', kind: 'Service', name }], network: { defaultDeny: true }, ...extra });
  const readyzBetween = (from: number, to: number): number[] => op.readyz.filter((r) => r.at >= from && r.at <= to).map((r) => r.status);
  /** Waits until every policy converged; returns how long it took. */
  const converge = async (timeoutMs: number): Promise<number> => {
    const started = Date.now();
    await eventually(async () => expect(await notConverged()).toEqual([]), timeoutMs, 500);
    return Date.now() - started;
  };

  beforeAll(async () => {
    const cluster = await startFaultCluster('faults');
    ({ cp, admin, ns } = cluster);
    proxy = await startTcpProxy({ host: '127.0.0.1', port: cluster.apiPort });
    // The operator's identity, through the proxy (TLS end to end: the certificate names 127.0.0.1).
    const kubeconfig = cluster.operatorKubeconfig(proxy.port);
    op = await spawnOperator(['--namespace', ns, '--leader-elect=false', '--watch-timeout=5s', '--request-timeout=5s'], kubeconfig);
    await op.waitForLine(/Caches synced, starting workers/, 60_000);
  }, 180_000);

  afterEach(() => {
    // The operator's last words, for a failed case.
    const state = expect.getState() as { assertionCalls: number; currentTestName?: string };
    if (process.env.FAULTS_LOG === 'true') process.stdout.write(`${state.currentTestName ?? ''}:\n${op.lines.slice(-40).join('\n')}\n`);
  });

  afterAll(async () => {
    process.stdout.write(`faults (api-server): ${JSON.stringify(report)}\n`);
    await op?.stop();
    await proxy?.close();
    if (cp) await stopControlPlane(cp);
  });

  it('API server SIGKILLed right after a burst of changes, back after 8 s: the operator stays up, is unready meanwhile, and loses no update', async () => {
    for (let i = 0; i < N; i++) {
      await apply(admin, service(ns, `svc-${i}`));
      await apply(admin, policy(ns, `p-${i}`, spec(`svc-${i}`)));
    }
    const server = apiServerControl(cp);
    await server.kill();
    const down = Date.now();
    await new Promise((r) => setTimeout(r, 8000));
    expect(op.alive()).toBe(true);
    await server.start();
    const up = Date.now();
    const ms = await converge(90_000);
    expect(readyzBetween(down + 2000, up)).toContain(503);
    await eventually(async () => expect(op.readyz.at(-1)?.status).toBe(200), 30_000);
    expect(op.alive()).toBe(true);
    report.apiServerKilled = { outageMs: up - down, convergedAfterRestartMs: ms, lostUpdates: (await notConverged()).length };
  }, 180_000);

  it('cut off while etcd is compacted and the API server restarted: the informers start over with a list and notice what changed meanwhile, deletions included', async () => {
    const restartsBefore = op.lines.filter((l) => l.includes('Informer failed, restarting')).length;
    proxy.cut();
    const cutAt = Date.now();
    // Meanwhile: a target deleted, an owned object deleted, a spec changed.
    await admin.request('DELETE', objectPath(Resources.service, ns, 'svc-0'), { verb: 'delete' });
    const [np1] = (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.networkPolicy, ns), { verb: 'list' })).items.filter((o) => o.metadata.ownerReferences?.[0]?.name === 'p-1');
    await admin.request('DELETE', objectPath(Resources.networkPolicy, ns, np1!.metadata.name), { verb: 'delete' });
    await apply(admin, policy(ns, 'p-2', spec('svc-2', { rateLimit: { requestsPerSecond: 5 } })));
    await compactEtcd(cp.etcdURL ?? '');
    const server = apiServerControl(cp);
    await server.kill();
    await server.start();
    proxy.resume();
    const resumed = Date.now();
    const p0 = await eventually(async () => {
      const p = (await policies()).find((x) => x.metadata.name === 'p-0');
      expect(p?.status?.conditions?.find((c) => c.type === 'Enforced')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
      return p;
    }, 60_000);
    expect(p0).toBeDefined();
    await eventually(async () => expect(await networkPolicies()).toContain('p-1'), 60_000);
    await eventually(async () => expect(isEnforced(await policies(), 'p-2')).toBe(true), 60_000);
    // Each informer restarted (a new list, not a resumed watch): the broken streams were noticed.
    expect(op.lines.filter((l) => l.includes('Informer failed, restarting')).length).toBeGreaterThan(restartsBefore);
    // Our own delete of p-0's NetworkPolicy (its Service is gone) was made once, and is no drift.
    const deletes = op.lines.filter((l) => l.includes('"name":"p-0"') && l.includes('"msg":"Deleted NetworkPolicy"'));
    expect(deletes).toHaveLength(1);
    expect(op.lines.filter((l) => l.includes('"name":"p-0"') && l.includes('Repaired drift'))).toEqual([]);
    report.compactedWhileCutOff = { cutOffMs: resumed - cutAt, convergedAfterMs: Date.now() - resumed, lostUpdates: 0 };
  }, 180_000);

  it('etcd SIGKILLed and restarted while the watches are open: changes made around it converge, a deletion included', async () => {
    const etcd = serverControl(cp, 'etcd');
    await etcd.kill();
    const down = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    expect(op.alive()).toBe(true);
    await etcd.start();
    const up = Date.now();
    // The API server may answer 5xx until it has reconnected: keep trying, as a user would.
    await eventually(() => apply(admin, service(ns, 'svc-etcd')), 60_000, 500);
    await eventually(() => apply(admin, policy(ns, 'p-etcd', spec('svc-etcd'))), 60_000, 500);
    await eventually(() => admin.request('DELETE', objectPath(Resources.service, ns, 'svc-3'), { verb: 'delete' }), 60_000, 500);
    await eventually(async () => {
      const all = await policies();
      expect(isEnforced(all, 'p-etcd')).toBe(true);
      expect(all.find((x) => x.metadata.name === 'p-3')?.status?.conditions?.find((c) => c.type === 'Enforced')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
    }, 90_000, 500);
    report.etcdKilled = { outageMs: up - down, convergedAfterRestartMs: Date.now() - up, lostUpdates: 0 };
  }, 180_000);

  it('a stalled connection (forwarding stops, nothing closes): the watchdog and the request timeout get the operator going within their bounds', async () => {
    const before = proxy.accepted();
    proxy.stallOpen();
    const stalledAt = Date.now();
    await apply(admin, service(ns, 'svc-late'));
    await apply(admin, policy(ns, 'p-late', spec('svc-late')));
    // Watch timeout 5 s: a silent stream is dead after 10 s; a stalled request fails after 5 s and is retried.
    await eventually(async () => expect(isEnforced(await policies(), 'p-late')).toBe(true), 60_000);
    const ms = Date.now() - stalledAt;
    expect(proxy.accepted()).toBeGreaterThan(before);
    expect(op.lines.some((l) => l.includes('watch stream was silent too long'))).toBe(true);
    report.stalledConnection = { convergedAfterMs: ms };
  }, 120_000);
});
