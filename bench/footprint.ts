// Footprint benchmark against a real local kube-apiserver (test/support/controlplane.ts, 127.0.0.1 only).
//
//   npm run bench:footprint -- --policies N [--operator dist|src] [--memory-limit MiB] [--node-flags=...] [--settle SECONDS] [--timeout SECONDS] [--out FILE] [--label L]
//
// Creates one namespace with N policies, each on its own Ingress and HEADLESS Service (the test control
// plane's small Service IP range would run out of ClusterIPs), then starts the operator as a child process
// (`node dist/main.js`, after `npm run build`, or `node src/main.ts` with --operator src) and waits until
// every policy has status.observedGeneration == generation and Enforced=True. Reports cold convergence,
// RSS (VmRSS/VmHWM from /proc), heap and external (bench/probe.ts, preloaded into the child, answers
// SIGUSR2), connections undici opened, TCP connections open to the API server, and fds.
// Needs KUBEBUILDER_ASSETS (kube-apiserver + etcd) or builds them like the integration tests.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { connect } from '../src/k8s/connect.ts';
import { ApiError } from '../src/k8s/errors.ts';
import { Informer } from '../src/k8s/informer.ts';
import { Resources, type KubeObject } from '../src/k8s/resources.ts';
import { repoRoot, startControlPlane, stopControlPlane } from '../test/support/controlplane.ts';
import { apply, installCrds } from '../test/support/kube.ts';
import { grantOperatorRbac } from '../test/support/operator.ts';
import { memoryLimitOption, podNodeFlags } from './node-flags.ts';

const { values } = parseArgs({
  options: {
    policies: { type: 'string', default: '10' },
    operator: { type: 'string', default: 'dist' },
    settle: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '600' },
    concurrency: { type: 'string', default: '16' },
    out: { type: 'string', default: join(repoRoot, 'bench/results/footprint-latest.json') },
    label: { type: 'string', default: '' },
    // The chart's Node flags for this memory limit (bench/node-flags.ts); 0: Node's defaults.
    'memory-limit': { type: 'string' },
    // Extra Node flags for the operator, after those, e.g. --node-flags=--max-semi-space-size=16
    'node-flags': { type: 'string', default: '' },
  },
});
const n = Number(values.policies);
const nodeFlags = [...podNodeFlags(memoryLimitOption(values['memory-limit'])), ...values['node-flags'].split(' ').filter(Boolean)];
const settleMs = Number(values.settle) * 1000;
const timeoutMs = Number(values.timeout) * 1000;
const entry = values.operator === 'src' ? join(repoRoot, 'src/main.ts') : join(repoRoot, 'dist/main.js');
if (!Number.isInteger(n) || n < 1) throw new Error('--policies must be a whole number ≥ 1');
if (!existsSync(entry)) throw new Error(`${entry} does not exist (run npm run build, or pass --operator src)`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = pino({ level: 'silent' });
const ns = 'bench-footprint';

/** Runs fn over items with at most `limit` in flight. */
async function pooled<T>(items: T[], limit: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

function procStatus(pid: number): { VmRSS?: number; VmHWM?: number; RssAnon?: number; RssFile?: number; Threads?: number } {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(VmRSS|VmHWM|RssAnon|RssFile|Threads):\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out; // kB
}

/** fds of the child, and how many of its sockets are TCP connections to the API server's port. */
function sockets(pid: number, apiPort: number): { fds: number; apiserverConnections: number } {
  const fds = readdirSync(`/proc/${pid}/fd`);
  const inodes = new Set<string>();
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  let conns = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const remPort = parseInt(f[2]!.split(':')[1]!, 16);
      if (remPort === apiPort && f[3] === '01' && inodes.has(f[9]!)) conns++; // 01 = ESTABLISHED
    }
  }
  return { fds: fds.length, apiserverConnections: conns };
}

interface Probe {
  before: NodeJS.MemoryUsage;
  afterGc?: NodeJS.MemoryUsage;
  spaces: Record<string, [number, number]>;
  connections: { opened: number; failed: number; byProtocol: Record<string, number> };
}

async function probe(pid: number, file: string): Promise<Probe> {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    if (existsSync(file)) {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as Probe;
      } catch {
        /* being written */
      }
    }
  }
  throw new Error('the operator did not answer SIGUSR2 within 10 s');
}

const converged = (p: KubeObject & { status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] } }): boolean =>
  p.status?.observedGeneration === p.metadata.generation && !!p.status?.conditions?.some((c) => c.type === 'Enforced' && c.status === 'True');

const info = await startControlPlane({ tieToThisProcess: true });
const apiPort = Number(new URL(info.server).port);
const admin = connect({ kubeconfig: info.kubeconfigs.admin });
let child: ReturnType<typeof spawn> | undefined;
const watcher = new Informer<KubeObject>(admin, Resources.policy, log, { namespace: ns });
try {
  await installCrds(admin);
  await grantOperatorRbac(admin);
  for (const name of [ns, 'apisec-system']) {
    await admin.request('POST', '/api/v1/namespaces', { verb: 'create', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } }).catch((e: unknown) => {
      if (!(e instanceof ApiError && e.status === 409)) throw e;
    });
  }
  const idx = Array.from({ length: n }, (_, i) => i);
  const t0 = performance.now();
  await pooled(idx, Number(values.concurrency), async (i) => {
    await apply(admin, { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: ns }, spec: { clusterIP: 'None', selector: { app: `api-${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } } as KubeObject);
    await apply(admin, {
      apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: `api-${i}`, namespace: ns },
      spec: { ingressClassName: 'nginx', rules: [{ host: `api-${i}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: `svc-${i}`, port: { number: 80 } } } }] } }] },
    } as KubeObject);
    await apply(admin, {
      apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { name: `pol-${i}`, namespace: ns },
      spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: `api-${i}` }], mode: 'Enforce', rateLimit: { requestsPerSecond: 50 }, network: { defaultDeny: true, allowFrom: [{ ingressController: true }] } },
    } as KubeObject);
  });
  const createSeconds = (performance.now() - t0) / 1000;

  // Count converged policies from a watch, so convergence is seen when it happens.
  const done = new Set<string>();
  let allDone: () => void = () => undefined;
  const finished = new Promise<void>((r) => (allDone = r));
  watcher.on((p, kind) => {
    if (kind === 'upsert' && converged(p)) done.add(p.metadata.name);
    else done.delete(p.metadata.name);
    if (done.size === n) allDone();
  });
  watcher.start();
  await watcher.waitForSync();

  const probeFile = join(info.workDir ?? '/tmp', 'probe.json');
  const stderr: string[] = [];
  const started = performance.now();
  child = spawn(process.execPath, [...nodeFlags, '--expose-gc', '--import', join(repoRoot, 'bench/probe.ts'), entry, '--kubeconfig', info.kubeconfigs.operator, '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0', '--log-level', 'warn'], {
    env: { ...process.env, APISEC_PROBE_FILE: probeFile, POD_NAME: 'bench' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = new Promise<void>((r) => child!.on('exit', () => r()));
  const timedOut = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
  const outcome = await Promise.race([finished.then(() => 'converged' as const), exited.then(() => 'exited' as const), timedOut]);
  if (outcome !== 'converged') throw new Error(`operator ${outcome} with ${done.size}/${n} policies converged\n${stderr.join('').slice(-2000)}`);
  const convergenceSeconds = (performance.now() - started) / 1000;
  const pid = child.pid!;
  const atConvergence = { ...procStatus(pid), ...sockets(pid, apiPort) };
  await sleep(settleMs);
  const settled = { ...procStatus(pid), ...sockets(pid, apiPort) };
  const mem = await probe(pid, probeFile);
  const mb = (b: number): number => +(b / 1048576).toFixed(1);
  const result = {
    label: values.label,
    policies: n,
    operator: values.operator,
    nodeFlags: nodeFlags.join(' '),
    node: process.version,
    createSeconds: +createSeconds.toFixed(1),
    convergenceSeconds: +convergenceSeconds.toFixed(1),
    rssMB: mb(settled.VmRSS! * 1024),
    peakRssMB: mb(settled.VmHWM! * 1024),
    rssAtConvergenceMB: mb(atConvergence.VmRSS! * 1024),
    heapUsedMB: mb(mem.before.heapUsed),
    heapTotalMB: mb(mem.before.heapTotal),
    externalMB: mb(mem.before.external),
    arrayBuffersMB: mb(mem.before.arrayBuffers),
    heapUsedAfterGcMB: mem.afterGc ? mb(mem.afterGc.heapUsed) : undefined,
    rssAfterGcMB: mem.afterGc ? mb(mem.afterGc.rss) : undefined,
    connectionsOpened: mem.connections.opened,
    connectionsByProtocol: mem.connections.byProtocol,
    apiserverConnectionsOpenAtConvergence: atConvergence.apiserverConnections,
    apiserverConnectionsOpenSettled: settled.apiserverConnections,
    fdsAtConvergence: atConvergence.fds,
    fdsSettled: settled.fds,
    threads: settled.Threads,
    heapSpacesMB: mem.spaces,
    settleSeconds: settleMs / 1000,
  };
  const rows: [string, string][] = [
    ['policies', String(n)],
    ['cold convergence (s)', String(result.convergenceSeconds)],
    ['RSS after settle (MB)', String(result.rssMB)],
    ['peak RSS, VmHWM (MB)', String(result.peakRssMB)],
    ['RSS per policy (KB)', (settled.VmRSS! / n).toFixed(0)],
    ['heapUsed / heapTotal (MB)', `${result.heapUsedMB} / ${result.heapTotalMB}`],
    ['external / arrayBuffers (MB)', `${result.externalMB} / ${result.arrayBuffersMB}`],
    ['heapUsed after GC (MB)', String(result.heapUsedAfterGcMB)],
    ['RSS − heapTotal (MB, native + code)', (result.rssMB - result.heapTotalMB).toFixed(1)],
    ['connections opened (undici)', `${result.connectionsOpened} ${JSON.stringify(result.connectionsByProtocol)}`],
    ['connections opened per policy', (result.connectionsOpened / n).toFixed(2)],
    ['TCP to API server open (at convergence / settled)', `${result.apiserverConnectionsOpenAtConvergence} / ${result.apiserverConnectionsOpenSettled}`],
    ['fds (at convergence / settled)', `${result.fdsAtConvergence} / ${result.fdsSettled}`],
  ];
  process.stdout.write(`\n| footprint${values.label ? ` (${values.label})` : ''} | value |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n\n`);
  mkdirSync(join(values.out, '..'), { recursive: true });
  writeFileSync(values.out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`wrote ${values.out}\n`);
} finally {
  const step = (what: string): void => void (process.env.BENCH_DEBUG && process.stderr.write(`cleanup: ${what}\n`));
  step('watcher');
  await watcher.stop();
  step('operator');
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    for (let i = 0; i < 100 && child.exitCode === null && child.signalCode === null; i++) await sleep(100);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  step('client');
  await admin.close();
  step('control plane');
  await stopControlPlane(info);
  step('done');
}
