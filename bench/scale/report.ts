// What one benchmark run reports: the Markdown table (stdout), the JSON of every figure, and the
// convergence curve as an SVG (policies Enforced over seconds since the operator started, with the
// baseline's duration marked).
import type { BaselineResult } from './baseline.ts';
import type { LatencyResult } from './phases.ts';

export interface Memory {
  rssMB: number;
  peakRssMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  externalMB: number;
  arrayBuffersMB: number;
}

export interface ScaleResult {
  label: string;
  at: string;
  command: string;
  machine: { cpus: number; cpuModel: string; memoryGB: number; kernel: string; loadAverage: number[] };
  versions: { node: string; operator: string; commit: string; kubeApiserver: string };
  layout: { policies: number; namespaces: number; workers: number; operator: 'src' | 'dist'; quick: boolean; memoryLimitMiB?: number; nodeFlags?: string };
  setupSeconds: number;
  baseline: BaselineResult;
  cold: {
    seconds: number;
    ratioToBaseline: number;
    /** [seconds since the operator started, policies converged]. */
    curve: [number, number][];
    reconciles: Record<string, number>;
    requestsByVerb: Record<string, number>;
    writesByKind: Record<string, number>;
    requestsPerReconcileByVerb: Record<string, number>;
    writesPerPolicy: number;
    cpuSeconds: number;
    eventLoopMs: { p50: number; p99: number; max: number };
    connectionsOpened: number;
  };
  latency: LatencyResult & { eventLoopMs: { p99: number; max: number }; reconcilesPerUpdate: number; writesPerUpdate: Record<string, number> };
  quiet: {
    idleSeconds: number;
    idleWrites: number;
    idleByRequest: Record<string, number>;
    restartSettleSeconds: number;
    restartWrites: number;
    restartByRequest: Record<string, number>;
    restartReconciles: number;
  };
  footprint: { atConvergence: Memory; afterIdle: Memory };
  /** Updates sent while a periodic resync (--resync periodSeconds) re-checks every policy. */
  resync?: LatencyResult & { periodSeconds: number; eventLoopMs: { p99: number; max: number }; resyncReconcilesDuring: number };
}

const r1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const kv = (o: Record<string, number>): string => Object.entries(o).map(([k, v]) => `${k} ${+v.toFixed(2)}`).join(', ') || '0';

export function markdown(r: ScaleResult): string {
  const { cold, latency: l, quiet: q, footprint: f } = r;
  const mem = (m: Memory): string => `RSS ${r1(m.rssMB)} (peak ${r1(m.peakRssMB)}), heapUsed ${r1(m.heapUsedMB)}, external ${r1(m.externalMB)}`;
  const rows: [string, string][] = [
    ['policies / namespaces / workers', `${r.layout.policies} / ${r.layout.namespaces} / ${r.layout.workers} (${r.layout.operator})`],
    ['Node flags (chart, memory limit)', `${r.layout.nodeFlags || 'none'} (${r.layout.memoryLimitMiB ? `${r.layout.memoryLimitMiB} MiB` : 'no limit'})`],
    ['baseline: the same writes by a bare client (s)', `${r1(r.baseline.seconds)} (${r.baseline.writes} writes, ${r1(r.baseline.writesPerSecond)}/s)`],
    ['cold convergence (s)', r1(cold.seconds)],
    ['cold / baseline', `${cold.ratioToBaseline.toFixed(2)}×`],
    ['writes per policy (cold)', cold.writesPerPolicy.toFixed(2)],
    ['policy reconciles per policy (cold)', ((cold.reconciles.apisecuritypolicy ?? 0) / r.layout.policies).toFixed(2)],
    ['API requests per policy reconcile, by verb', kv(cold.requestsPerReconcileByVerb)],
    ['operator CPU during cold start (s)', r1(cold.cpuSeconds)],
    ['event-loop delay in cold start p99 / max (ms)', `${r1(cold.eventLoopMs.p99)} / ${r1(cold.eventLoopMs.max)}`],
    [`update → artifacts+status p50 / p95 / p99 (ms), ${l.updates} at ${l.ratePerSecond}/s`, `${r1(l.bothMs.p50)} / ${r1(l.bothMs.p95)} / ${r1(l.bothMs.p99)} (${l.seen}/${l.updates} seen)`],
    ['… artifacts only p50 / p99; status only p50 / p99 (ms)', `${r1(l.artifactMs.p50)} / ${r1(l.artifactMs.p99)}; ${r1(l.statusMs.p50)} / ${r1(l.statusMs.p99)}`],
    ['event-loop delay during updates p99 / max (ms)', `${r1(l.eventLoopMs.p99)} / ${r1(l.eventLoopMs.max)}`],
    ['per update: policy reconciles; writes (audit log)', `${l.reconcilesPerUpdate}; ${kv(l.writesPerUpdate)}`],
    [`writes in ${q.idleSeconds} s idle (audit log)`, `${q.idleWrites}${q.idleWrites ? ` (${kv(q.idleByRequest)})` : ''}`],
    ['writes after a restart (audit log)', `${q.restartWrites}${q.restartWrites ? ` (${kv(q.restartByRequest)})` : ''}; settled in ${r1(q.restartSettleSeconds)} s, ${q.restartReconciles} reconciles`],
    ...(r.resync
      ? ([
          [
            `… during a full resync (--resync ${r.resync.periodSeconds}s), ${r.resync.updates} at ${r.resync.ratePerSecond}/s: p50 / p95 / p99 (ms)`,
            `${r1(r.resync.bothMs.p50)} / ${r1(r.resync.bothMs.p95)} / ${r1(r.resync.bothMs.p99)} (${r.resync.seen}/${r.resync.updates} seen; ${r.resync.resyncReconcilesDuring} resync reconciles meanwhile; event loop p99 / max ${r1(r.resync.eventLoopMs.p99)} / ${r1(r.resync.eventLoopMs.max)} ms)`,
          ],
        ] as [string, string][])
      : []),
    ['memory at convergence (MB)', mem(f.atConvergence)],
    ['memory after idle (MB)', mem(f.afterIdle)],
  ];
  return `| scale (${r.machine.cpus} cores, node ${r.versions.node}, ${r.versions.kubeApiserver}) | value |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`;
}

/** At most `max` points of the curve, keeping the first and the last. */
export function thin(curve: [number, number][], max = 200): [number, number][] {
  if (curve.length <= max) return curve;
  const step = (curve.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => curve[Math.round(i * step)]!);
}

/** The convergence curve as a self-contained SVG. */
export function svg(r: ScaleResult): string {
  const [w, h, left, bottom, top, right] = [640, 360, 60, 40, 30, 20];
  const curve = r.cold.curve;
  const maxT = Math.max(r.cold.seconds, r.baseline.seconds, 1);
  const n = r.layout.policies;
  const x = (t: number): number => +(left + (t / maxT) * (w - left - right)).toFixed(1);
  const y = (c: number): number => +(h - bottom - (c / n) * (h - bottom - top)).toFixed(1);
  const points = [[0, 0] as [number, number], ...curve].map(([t, c]) => `${x(t)},${y(c)}`).join(' ');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${x(f * maxT)}" y="${h - bottom + 16}" text-anchor="middle">${r1(f * maxT)}</text><text x="${left - 6}" y="${y(f * n) + 4}" text-anchor="end">${Math.round(f * n)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="11">
<rect width="${w}" height="${h}" fill="white"/>
<text x="${left}" y="18" font-size="13">Cold convergence: ${n} policies, ${r.layout.namespaces} namespace(s), ${r.layout.workers} workers — ${r1(r.cold.seconds)} s, ${r.cold.ratioToBaseline.toFixed(2)}× the baseline</text>
<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${h - bottom}" stroke="black"/><line x1="${left}" y1="${top}" x2="${left}" y2="${h - bottom}" stroke="black"/>
${ticks}
<text x="${(w + left) / 2}" y="${h - 6}" text-anchor="middle">seconds since the operator started</text>
<line x1="${x(r.baseline.seconds)}" y1="${top}" x2="${x(r.baseline.seconds)}" y2="${h - bottom}" stroke="#888" stroke-dasharray="4 3"/>
<text x="${x(r.baseline.seconds) + 4}" y="${top + 12}" fill="#555">baseline ${r1(r.baseline.seconds)} s</text>
<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="${points}"/>
</svg>
`;
}
