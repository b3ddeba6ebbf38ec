// The operator as users run it (`node src/main.ts`), for the fault suite: its log lines, and its /readyz
// sampled every 100 ms for as long as it runs, so a test can say what readiness was during a fault.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './controlplane.ts';

export interface OperatorProcess {
  pid: number;
  lines: string[];
  /** /readyz answers with when they came (0: no answer). */
  readyz: { at: number; status: number }[];
  alive(): boolean;
  /** Resolves with the first log line matching `re` (also one already logged). */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** GET /metrics (the operator runs with --metrics-auth=none): the text exposition. */
  metrics(): Promise<string>;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

const PORT_LINE = /"port":(\d+),"serves":\[[^\]]*"\/readyz"[^\]]*\],"msg":"Started HTTP server"/;
const METRICS_LINE = /"port":(\d+),"serves":\[[^\]]*"\/metrics"[^\]]*\],"msg":"Started HTTP server"/;

export async function spawnOperator(args: string[], kubeconfig: string, name = `faults-${process.pid}`): Promise<OperatorProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'src/main.ts'), '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0', ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: name, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const readyz: OperatorProcess['readyz'] = [];
  let port: number | undefined;
  let metricsPort: number | undefined;
  let running = true;
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      lines.push(line);
      const m = PORT_LINE.exec(line);
      if (m) port = Number(m[1]);
      const mm = METRICS_LINE.exec(line);
      if (mm) metricsPort = Number(mm[1]);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((r) =>
    child.on('exit', () => {
      running = false;
      r();
    }),
  );
  void (async () => {
    while (running) {
      if (port !== undefined) {
        const status = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0);
        if (running) readyz.push({ at: Date.now(), status });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const op: OperatorProcess = {
    pid: child.pid ?? 0,
    lines,
    readyz,
    alive: () => running,
    waitForLine: async (re, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find((l) => re.test(l));
        if (found) return found;
        if (!running) throw new Error(`the operator exited before logging ${re}:\n${lines.slice(-20).join('\n')}`);
        if (Date.now() > deadline) throw new Error(`no log line ${re} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    metrics: async () => {
      if (metricsPort === undefined) throw new Error('the operator has not said where /metrics is');
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.text();
    },
    stop: async () => {
      if (!running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  await op.waitForLine(PORT_LINE, 30_000);
  return op;
}

/** The sum of a metric's series whose labels include `labels`, from the text exposition of /metrics. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(?:\\{([^}]*)\\})? ([0-9.e+-]+)$`).exec(line);
    if (!m) continue;
    const have = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[2]);
  }
  return sum;
}
