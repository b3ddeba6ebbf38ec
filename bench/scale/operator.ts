// The operator under test, as its own process (`node src/main.ts`, or `dist/main.js` after npm run build)
// with bench/probe.ts preloaded: its memory and event-loop delay on SIGUSR2, its /metrics over loopback,
// its RSS from /proc. Its logs go to a file in the control plane's work directory, not through a pipe.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, repoRoot } from '../../test/support/controlplane.ts';

export interface ProbeAnswer {
  before: NodeJS.MemoryUsage;
  connections: { opened: number; failed: number; byProtocol: Record<string, number> };
  eventLoop: { p50: number; p99: number; max: number; mean: number; samples: number };
  cpu: { user: number; system: number };
  uptime: number;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Prometheus text → samples by metric name. */
export function parseMetrics(text: string): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1]!, list);
  }
  return out;
}

/** Sum of a metric's samples that match `where`, grouped by one label (or '' for the total). */
export function sumBy(metrics: Map<string, Sample[]>, name: string, by: string, where: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of metrics.get(name) ?? []) {
    if (Object.entries(where).some(([k, v]) => s.labels[k] !== v)) continue;
    const k = by ? (s.labels[by] ?? '') : '';
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

export interface OperatorOptions {
  /** 'src' (node src/main.ts) or 'dist' (node dist/main.js). */
  build: 'src' | 'dist';
  kubeconfig: string;
  workers: number;
  workDir: string;
  /** Names the log file and the probe file. */
  label: string;
  /** Node flags as the chart sets them for the pod's memory limit (bench/node-flags.ts). */
  nodeFlags: string[];
  extraArgs?: string[];
}

export class OperatorChild {
  readonly child: ChildProcess;
  readonly port: number;
  readonly logPath: string;
  readonly startedAt: number;
  readonly exited: Promise<number | null>;
  private readonly probeFile: string;

  private constructor(child: ChildProcess, port: number, files: { log: string; probe: string }) {
    this.child = child;
    this.port = port;
    this.logPath = files.log;
    this.probeFile = files.probe;
    this.startedAt = performance.now();
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }

  static async start(opts: OperatorOptions): Promise<OperatorChild> {
    const entry = join(repoRoot, opts.build === 'dist' ? 'dist/main.js' : 'src/main.ts');
    if (!existsSync(entry)) throw new Error(`${entry} does not exist: run npm run build, or pass --operator src`);
    const port = await freePort();
    const log = join(opts.workDir, `operator-${opts.label}.log`);
    const probe = join(opts.workDir, `probe-${opts.label}.json`);
    const fd = openSync(log, 'a');
    const address = `127.0.0.1:${port}`;
    // BENCH_NODE_FLAGS: more flags for the operator's Node, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof.
    const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
    const args = [...opts.nodeFlags, ...flags, '--expose-gc', '--import', join(repoRoot, 'bench/probe.ts'), entry, '--kubeconfig', opts.kubeconfig, '--metrics-bind-address', address, '--health-probe-bind-address', address, '--workers', String(opts.workers), '--log-level', 'info', ...(opts.extraArgs ?? [])];
    const child = spawn(process.execPath, args, { env: { ...process.env, APISEC_PROBE_FILE: probe, APISEC_PROBE_GC: '0', POD_NAME: 'bench-operator' }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return new OperatorChild(child, port, { log, probe });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The probe's answer (memory, event-loop delay since the last probe, CPU). */
  async probe(): Promise<ProbeAnswer> {
    rmSync(this.probeFile, { force: true });
    process.kill(this.pid, 'SIGUSR2');
    for (let i = 0; i < 100; i++) {
      await sleep(100);
      if (!existsSync(this.probeFile)) continue;
      try {
        return JSON.parse(readFileSync(this.probeFile, 'utf8')) as ProbeAnswer;
      } catch {
        /* being written */
      }
    }
    throw new Error('the operator did not answer SIGUSR2 within 10 s');
  }

  async metrics(): Promise<Map<string, Sample[]>> {
    const res = await fetch(`http://127.0.0.1:${this.port}/metrics`);
    return parseMetrics(await res.text());
  }

  async ready(): Promise<boolean> {
    return fetch(`http://127.0.0.1:${this.port}/readyz`).then((r) => r.ok, () => false);
  }

  /** VmRSS and VmHWM (peak) in MB. */
  rss(): { rssMB: number; peakRssMB: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rssMB: +(kb('VmRSS') / 1024).toFixed(1), peakRssMB: +(kb('VmHWM') / 1024).toFixed(1) };
  }

  /** SIGTERM (the operator releases its lease), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const killed = new Promise<'late'>((r) => setTimeout(() => r('late'), 30_000).unref());
    if ((await Promise.race([this.exited, killed])) === 'late') this.child.kill('SIGKILL');
    await this.exited;
  }

  /** The last lines of its log, for an error message. */
  logTail(lines = 20): string {
    return readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }
}

/** The operator's work settled: its queues empty and no write for `quietMs` (polled from /metrics). */
export async function settled(op: OperatorChild, { quietMs = 2000, timeoutMs = 120_000 } = {}): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let since = Date.now();
  while (Date.now() < deadline && op.running) {
    const m = await op.metrics().catch(() => undefined);
    if (m) {
      const depth = Object.values(sumBy(m, 'apisec_workqueue_depth', '')).reduce((a, b) => a + b, 0);
      // Lease renewals are writes too (every 2 s): they do not count as work.
      const writes = Object.entries(sumBy(m, 'apisec_writes_total', 'kind')).filter(([kind]) => kind !== 'leases');
      const mark = `${JSON.stringify(writes)}/${JSON.stringify(sumBy(m, 'apisec_reconcile_total', ''))}`;
      if (mark !== last || depth > 0) {
        last = mark;
        since = Date.now();
      } else if (Date.now() - since >= quietMs) return true;
    }
    await sleep(250);
  }
  return false;
}
