// The operator's phases of one benchmark run, on a control plane holding the fixtures: cold start (the
// curve, requests by verb, event loop, memory), update latency, idle, restart. The operator is a process
// of its own (bench/scale/operator.ts); what it did is read from its /metrics and the audit log.
import type { KubeClient } from '../../src/k8s/client.ts';
import type { ControlPlaneInfo } from '../../test/support/controlplane.ts';
import type { Layout } from './fixtures.ts';
import { OperatorChild, settled, sumBy, type ProbeAnswer, type Sample } from './operator.ts';
import { AuditLog, latencyPhase } from './phases.ts';
import { thin, type Memory, type ScaleResult } from './report.ts';
import { Watches } from './watch.ts';

export interface PhaseOptions {
  info: ControlPlaneInfo;
  admin: KubeClient;
  layout: Layout;
  workers: number;
  build: 'src' | 'dist';
  nodeFlags: string[];
  baselineSeconds: number;
  latency: { updates: number; rate: number };
  idleSeconds: number;
  timeoutMs: number;
}

type Phases = Pick<ScaleResult, 'cold' | 'latency' | 'quiet' | 'footprint' | 'resync'>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (b: number): number => +(b / 1048576).toFixed(1);

function memory(op: OperatorChild, p: ProbeAnswer): Memory {
  return { ...op.rss(), heapUsedMB: mb(p.before.heapUsed), heapTotalMB: mb(p.before.heapTotal), externalMB: mb(p.before.external), arrayBuffersMB: mb(p.before.arrayBuffers) };
}

/** The writes a phase made: from the audit log on a local control plane, else from the operator's metrics. */
function writeCounter(info: ControlPlaneInfo): { mark: () => number; since: (from: number) => { total: number; byRequest: Record<string, number> } } {
  if (!info.auditLogPath) throw new Error('the quiet phases need the audit log of a local control plane (not USE_EXISTING_CLUSTER)');
  const audit = new AuditLog(info.auditLogPath);
  return { mark: () => audit.mark(), since: (from) => audit.writesSince(from) };
}

/** The cold start's figures from /metrics: reconciles by controller, requests by verb, writes by kind. */
function coldFigures(m: Map<string, Sample[]>, policies: number): Pick<Phases['cold'], 'reconciles' | 'requestsByVerb' | 'writesByKind' | 'requestsPerReconcileByVerb' | 'writesPerPolicy'> {
  const reconciles = sumBy(m, 'apisec_reconcile_total', 'controller');
  // Lease gets and renewals (leader election, every 2 s) are not the reconciles' requests.
  const requestsByVerb: Record<string, number> = {};
  for (const s of m.get('apisec_api_requests_total') ?? []) if (s.labels.resource !== 'leases') requestsByVerb[s.labels.verb ?? ''] = (requestsByVerb[s.labels.verb ?? ''] ?? 0) + s.value;
  const writes = m.get('apisec_writes_total') ?? [];
  const writesByKind: Record<string, number> = {};
  for (const s of writes.filter((w) => w.labels.kind !== 'leases')) writesByKind[`${s.labels.operation} ${s.labels.kind}`] = (writesByKind[`${s.labels.operation} ${s.labels.kind}`] ?? 0) + s.value;
  const perReconcile = Object.fromEntries(Object.entries(requestsByVerb).filter(([v]) => v !== 'watch' && v !== 'list').map(([v, n]) => [v, +(n / Math.max(1, reconciles.apisecuritypolicy ?? 0)).toFixed(2)]));
  const total = Object.values(writesByKind).reduce((a, b) => a + b, 0);
  return { reconciles, requestsByVerb, writesByKind, requestsPerReconcileByVerb: perReconcile, writesPerPolicy: total / policies };
}

async function coldStart(o: PhaseOptions, watches: Watches): Promise<{ op: OperatorChild; cold: Phases['cold']; memory: Memory }> {
  const n = o.layout.policies;
  const conv = watches.allConverged(n);
  const op = await OperatorChild.start({ build: o.build, kubeconfig: o.info.kubeconfigs.operator, workers: o.workers, nodeFlags: o.nodeFlags, workDir: o.info.workDir ?? '/tmp', label: 'cold' });
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), o.timeoutMs).unref());
  const outcome = await Promise.race([conv.done.then(() => 'converged' as const), op.exited.then(() => 'exited' as const), timeout]);
  if (outcome !== 'converged') throw new Error(`operator ${outcome} with ${watches.convergedCount}/${n} policies converged\n${op.logTail()}`);
  const seconds = (performance.now() - op.startedAt) / 1000;
  const probe = await op.probe();
  const mem = memory(op, probe);
  const curve = thin(conv.times().sort((a, b) => a - b).map((t, i) => [+((t - op.startedAt) / 1000).toFixed(2), i + 1] as [number, number]));
  // Echo reconciles of its own writes belong to the cold start: count requests once it has settled.
  await settled(op);
  const figures = coldFigures(await op.metrics(), n);
  const cold: Phases['cold'] = {
    seconds: +seconds.toFixed(2),
    ratioToBaseline: seconds / o.baselineSeconds,
    curve,
    ...figures,
    cpuSeconds: +((probe.cpu.user + probe.cpu.system) / 1e6).toFixed(1),
    eventLoopMs: { p50: probe.eventLoop.p50, p99: probe.eventLoop.p99, max: probe.eventLoop.max },
    connectionsOpened: probe.connections.opened,
  };
  return { op, cold, memory: mem };
}

/** A restarted operator: its writes until it has re-checked everything and settled. */
async function restart(o: PhaseOptions, old: OperatorChild, writes: ReturnType<typeof writeCounter>): Promise<{ op: OperatorChild; quiet: Pick<Phases['quiet'], 'restartSettleSeconds' | 'restartWrites' | 'restartByRequest' | 'restartReconciles'> }> {
  await old.stop();
  const from = writes.mark();
  const op = await OperatorChild.start({ build: o.build, kubeconfig: o.info.kubeconfigs.operator, workers: o.workers, nodeFlags: o.nodeFlags, workDir: o.info.workDir ?? '/tmp', label: 'restart' });
  const deadline = Date.now() + o.timeoutMs;
  while (!(await op.ready()) && op.running && Date.now() < deadline) await sleep(100);
  if (!(await settled(op, { quietMs: 3000, timeoutMs: o.timeoutMs }))) throw new Error(`the restarted operator did not settle\n${op.logTail()}`);
  const settleSeconds = (performance.now() - op.startedAt) / 1000 - 3;
  await sleep(2000);
  const w = writes.since(from);
  const reconciles = sumBy(await op.metrics(), 'apisec_reconcile_total', 'controller').apisecuritypolicy ?? 0;
  return { op, quiet: { restartSettleSeconds: +settleSeconds.toFixed(1), restartWrites: w.total, restartByRequest: w.byRequest, restartReconciles: reconciles } };
}

/**
 * Latency during a full resync: a third operator with a short --resync re-checks every policy once it
 * has settled (in the low-priority lane of its queue), and updates are sent while that pass runs. The
 * period is long enough for the start's own re-check to finish first (twice the restart's settle time,
 * at least 30 s); the phase reports how many resync reconciles ran while the updates were measured.
 */
async function resyncLatency(o: PhaseOptions, old: OperatorChild, watches: Watches, restartSettleSeconds: number): Promise<{ op: OperatorChild; resync: Phases['resync'] }> {
  await old.stop();
  const periodSeconds = Math.max(30, Math.ceil(2 * restartSettleSeconds) + 10);
  const op = await OperatorChild.start({ build: o.build, kubeconfig: o.info.kubeconfigs.operator, workers: o.workers, nodeFlags: o.nodeFlags, workDir: o.info.workDir ?? '/tmp', label: 'resync', extraArgs: ['--resync', `${periodSeconds}s`] });
  if (!(await settled(op, { quietMs: 3000, timeoutMs: o.timeoutMs }))) throw new Error(`the operator did not settle before its resync\n${op.logTail()}`);
  const wait = op.startedAt + periodSeconds * 1000 - performance.now();
  if (wait > 0) await sleep(wait);
  const before = await policyReconciles(op);
  await op.probe();
  const updates = Math.min(o.latency.updates, 100);
  const latency = await latencyPhase(o.admin, watches, o.layout, { updates, rate: o.latency.rate, timeoutMs: 30_000, base: 5000 });
  const loop = (await op.probe()).eventLoop;
  const reconcilesDuring = (await policyReconciles(op)) - before - latency.updates;
  return { op, resync: { periodSeconds, ...latency, eventLoopMs: { p99: loop.p99, max: loop.max }, resyncReconcilesDuring: Math.max(0, reconcilesDuring) } };
}

const policyReconciles = async (op: OperatorChild): Promise<number> => sumBy(await op.metrics(), 'apisec_reconcile_total', 'controller').apisecuritypolicy ?? 0;

export async function runOperatorPhases(o: PhaseOptions): Promise<Phases> {
  const watches = new Watches(o.admin, o.layout.prefix);
  await watches.start();
  const writes = writeCounter(o.info);
  let op: OperatorChild | undefined;
  try {
    process.stderr.write('bench: cold start\n');
    const started = await coldStart(o, watches);
    op = started.op;
    await op.probe(); // resets the event-loop histogram: the next probe covers the updates only
    process.stderr.write(`bench: cold ${started.cold.seconds} s; latency\n`);
    const before = { audit: writes.mark(), reconciles: await policyReconciles(op) };
    const latency = await latencyPhase(o.admin, watches, o.layout, { ...o.latency, timeoutMs: 30_000 });
    const loop = (await op.probe()).eventLoop;
    await settled(op);
    const updateWrites = writes.since(before.audit);
    const perUpdate = (n: number): number => +(n / latency.updates).toFixed(2);
    const updateReconciles = (await policyReconciles(op)) - before.reconciles;
    process.stderr.write(`bench: idle ${o.idleSeconds} s\n`);
    const from = writes.mark();
    await sleep(o.idleSeconds * 1000);
    const idle = writes.since(from);
    const afterIdle = memory(op, await op.probe());
    process.stderr.write('bench: restart\n');
    const again = await restart(o, op, writes);
    op = again.op;
    process.stderr.write('bench: latency during a full resync\n');
    const during = await resyncLatency(o, op, watches, again.quiet.restartSettleSeconds);
    op = during.op;
    return {
      resync: during.resync,
      cold: started.cold,
      latency: {
        ...latency,
        eventLoopMs: { p99: loop.p99, max: loop.max },
        reconcilesPerUpdate: perUpdate(updateReconciles),
        writesPerUpdate: Object.fromEntries(Object.entries(updateWrites.byRequest).map(([k, v]) => [k, perUpdate(v)])),
      },
      quiet: { idleSeconds: o.idleSeconds, idleWrites: idle.total, idleByRequest: idle.byRequest, ...again.quiet },
      footprint: { atConvergence: started.memory, afterIdle },
    };
  } finally {
    await op?.stop();
    await watches.stop();
  }
}
