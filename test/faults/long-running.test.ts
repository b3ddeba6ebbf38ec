// Long running: every internal period shortened by flags (resync, watch renewal, API discovery: 2 s),
// the operator runs for 20 of those periods with policies to re-check, and nothing may grow with the
// iterations: active handles and resources (timers, sockets), open file descriptors, heap, and no
// MaxListenersExceededWarning (an abort listener added to a long-lived signal per call and never removed
// showed up after about 55 minutes at the default periods).
import type { KubeClient } from '../../src/k8s/client.ts';
import { stopControlPlane, type ControlPlaneInfo } from '../support/controlplane.ts';
import { startFaultCluster } from '../support/fault-cluster.ts';
import { ingress, policy } from '../support/fixtures.ts';
import { apply, eventually } from '../support/kube.ts';
import { spawnOperator, type OperatorProcess } from '../support/operator-process.ts';

const PERIOD_MS = 2000;
const ITERATIONS = 20;
const SERIES = ['nodejs_active_handles_total', 'nodejs_active_resources_total', 'process_open_fds', 'nodejs_heap_size_used_bytes'] as const;

/** One unlabelled sample of each series from the text exposition. */
function sample(text: string): Record<(typeof SERIES)[number], number> {
  const out = {} as Record<(typeof SERIES)[number], number>;
  for (const name of SERIES) {
    const m = new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text);
    if (!m) throw new Error(`/metrics has no ${name}`);
    out[name] = Number(m[1]);
  }
  return out;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('the operator over many internal periods', () => {
  let cp: ControlPlaneInfo;
  let admin: KubeClient;
  let ns: string;
  let op: OperatorProcess;

  beforeAll(async () => {
    const cluster = await startFaultCluster('long');
    ({ cp, admin, ns } = cluster);
    for (let i = 0; i < 10; i++) {
      await apply(admin, ingress(ns, `api-${i}`, 'backend'));
      await apply(admin, policy(ns, `p-${i}`, { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: `api-${i}` }], provider: 'ingress-nginx', rateLimit: { requestsPerSecond: 5 } }));
    }
    const args = ['--namespace', ns, '--leader-elect=false', '--resync=2s', '--watch-timeout=2s', '--discovery-interval=2s'];
    op = await spawnOperator(args, cluster.operatorKubeconfig(cluster.apiPort));
    await op.waitForLine(/Caches synced, starting workers/, 60_000);
  }, 180_000);

  afterAll(async () => {
    await op?.stop();
    if (cp) await stopControlPlane(cp);
  });

  it(`keeps handles, resources, file descriptors and heap flat over ${ITERATIONS} periods of ${PERIOD_MS / 1000} s`, async () => {
    await eventually(async () => expect(op.lines.filter((l) => l.includes('"msg":"Reconciled') || l.includes('Applied Ingress annotations')).length).toBeGreaterThan(0), 60_000);
    const samples: ReturnType<typeof sample>[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      await new Promise((r) => setTimeout(r, PERIOD_MS));
      samples.push(sample(await op.metrics()));
    }
    const first = samples.slice(0, 5);
    const last = samples.slice(-5);
    const growth = Object.fromEntries(SERIES.map((s) => [s, { first: mean(first.map((x) => x[s])), last: mean(last.map((x) => x[s])) }]));
    process.stdout.write(`faults (long-running): ${JSON.stringify(growth)}\n`);
    // A leak of one handle, socket or fd per period would add 15 between the two windows.
    for (const s of ['nodejs_active_handles_total', 'nodejs_active_resources_total', 'process_open_fds'] as const) expect(growth[s]!.last).toBeLessThanOrEqual(growth[s]!.first + 5);
    // Heap: garbage comes and goes; a leak per period shows as a steady climb past the noise.
    expect(growth.nodejs_heap_size_used_bytes!.last).toBeLessThan(growth.nodejs_heap_size_used_bytes!.first * 1.5);
    expect(op.lines.filter((l) => l.includes('MaxListenersExceededWarning'))).toEqual([]);
    expect(op.alive()).toBe(true);
  }, 180_000);
});
