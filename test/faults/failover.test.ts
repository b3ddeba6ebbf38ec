// Two replicas with leader election on (the defaults: 15 s lease), against their own control plane.
// SIGKILL of the leader: the standby takes over once the lease expires and finishes the work made just
// before. SIGTERM: the leader releases the lease and a standby takes over at once. Never two leaders
// writing: every write in the API server's audit log carries the replica's User-Agent, and each
// replica's writes (leases aside) fall inside its own leadership.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, type KubeObject } from '../../src/k8s/resources.ts';
import { stopControlPlane, type ControlPlaneInfo } from '../support/controlplane.ts';
import { operatorWrites, startFaultCluster, type FaultCluster } from '../support/fault-cluster.ts';
import { ingress, policy } from '../support/fixtures.ts';
import { apply, eventually } from '../support/kube.ts';
import { spawnOperator, type OperatorProcess } from '../support/operator-process.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const report: Record<string, unknown> = {};
const ACQUIRED = /"msg":"Acquired leader lease"/;

describe('two replicas', () => {
  let cluster: FaultCluster;
  let cp: ControlPlaneInfo;
  let admin: KubeClient;
  let ns: string;
  const replicas: OperatorProcess[] = [];
  /** Per replica name: when it acquired the lease, and when it stopped being leader (exit or loss). */
  const leadership = new Map<string, { from: number; to?: number }>();

  const start = async (name: string): Promise<OperatorProcess> => {
    const op = await spawnOperator(['--namespace', ns, `--leader-election-namespace=${ns}`], cluster.operatorKubeconfig(cluster.apiPort), name);
    replicas.push(op);
    return op;
  };
  const acquiredAt = (op: OperatorProcess): number | undefined => {
    const line = op.lines.find((l) => ACQUIRED.test(l));
    return line ? (JSON.parse(line) as { time: number }).time : undefined;
  };
  const behind = async (): Promise<string[]> =>
    (await admin.request<{ items: Policy[] }>('GET', collectionPath(Resources.policy, ns), { verb: 'list' })).items.filter((p) => p.status?.observedGeneration !== p.metadata.generation).map((p) => p.metadata.name);
  const addPolicies = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i++) {
      await apply(admin, ingress(ns, `api-${i}`, 'backend'));
      await apply(admin, policy(ns, `p-${i}`, { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: `api-${i}` }], provider: 'ingress-nginx', rateLimit: { requestsPerSecond: 5 } }));
    }
  };

  beforeAll(async () => {
    cluster = await startFaultCluster('failover');
    ({ cp, admin, ns } = cluster);
  }, 180_000);

  afterAll(async () => {
    process.stdout.write(`faults (failover): ${JSON.stringify(report)}\n`);
    for (const op of replicas) await op.stop();
    if (cp) await stopControlPlane(cp);
  });

  it('SIGKILL of the leader: the standby takes over after the lease expires and finishes what was pending', async () => {
    const a = await start('replica-a');
    await a.waitForLine(ACQUIRED, 60_000);
    leadership.set('replica-a', { from: acquiredAt(a)! });
    const b = await start('replica-b');
    await b.waitForLine(/Caches synced|Waiting for leader lease/, 60_000);
    await addPolicies(0, 5);
    await eventually(async () => expect(await behind()).toEqual([]), 60_000);
    // Work made just before the kill.
    await addPolicies(5, 10);
    process.kill(a.pid, 'SIGKILL');
    const killed = Date.now();
    leadership.get('replica-a')!.to = killed;
    await b.waitForLine(ACQUIRED, 60_000);
    const tookOver = acquiredAt(b)!;
    leadership.set('replica-b', { from: tookOver });
    await eventually(async () => expect(await behind()).toEqual([]), 60_000);
    report.sigkill = { takeoverMs: tookOver - killed, convergedMs: Date.now() - killed, lostUpdates: (await behind()).length };
    // Within the lease (15 s) and a renewal period of the standby (2 s), plus this machine's noise.
    expect(tookOver - killed).toBeLessThan(40_000);
  }, 180_000);

  it('SIGTERM of the leader: it releases the lease, and the standby takes over at once', async () => {
    const b = replicas[1]!;
    const c = await start('replica-c');
    await c.waitForLine(/Caches synced|Waiting for leader lease/, 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    const termAt = Date.now();
    await b.stop();
    leadership.get('replica-b')!.to = Date.now();
    await c.waitForLine(ACQUIRED, 30_000);
    const tookOver = acquiredAt(c)!;
    leadership.set('replica-c', { from: tookOver });
    const released = b.lines.find((l) => l.includes('Released leader lease'));
    expect(released).toBeDefined();
    const releasedAt = (JSON.parse(released!) as { time: number }).time;
    await addPolicies(10, 12);
    await eventually(async () => expect(await behind()).toEqual([]), 60_000);
    report.sigterm = { handoverAfterReleaseMs: tookOver - releasedAt, fromSigtermMs: tookOver - termAt };
    // Well under the 15 s lease: the release is what let it in (its retry period is 2 s).
    expect(tookOver - releasedAt).toBeLessThan(5000);
  }, 120_000);

  it('never had two leaders writing: each replica wrote (leases aside) only while it led', () => {
    const writes = operatorWrites(cp).filter((e) => e.objectRef?.resource !== 'leases' && e.objectRef?.resource !== 'events' && (e.responseStatus?.code ?? 0) < 300);
    const outside: string[] = [];
    const byReplica: Record<string, number> = {};
    for (const w of writes) {
      const name = /\(([^)]+)\)/.exec(w.userAgent ?? '')?.[1] ?? '?';
      byReplica[name] = (byReplica[name] ?? 0) + 1;
      const lead = leadership.get(name);
      const at = Date.parse(w.requestReceivedTimestamp);
      // One second of slack each side: the audit clock and the log clock are the same machine's.
      if (!lead || at < lead.from - 1000 || (lead.to !== undefined && at > lead.to + 1000)) outside.push(`${name} ${w.verb} ${w.objectRef?.resource ?? ''} at ${w.requestReceivedTimestamp}`);
    }
    report.writesByReplica = byReplica;
    expect(Object.keys(byReplica).sort()).toEqual(['replica-a', 'replica-b', 'replica-c']);
    expect(outside).toEqual([]);
  });
});
