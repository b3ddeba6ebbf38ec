// A real Kubernetes control plane (etcd + kube-apiserver) for integration tests, the demo and
// benchmarks. Order of preference, as envtest: an existing cluster (USE_EXISTING_CLUSTER=true +
// KUBECONFIG), then KUBEBUILDER_ASSETS binaries, then binaries built from Go modules by
// test/controlplane/build.sh. Everything listens on 127.0.0.1 only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Identities the tests can act as. Tokens exist only on a control plane we started. */
export interface Identity {
  user: string;
  groups: string[];
}

export const identities = {
  admin: { user: 'test-admin', groups: ['system:masters'] },
  operator: {
    user: 'system:serviceaccount:apisec-system:api-security-operator',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:apisec-system', 'system:authenticated'],
  },
  tenant: { user: 'tenant-dev', groups: ['system:authenticated'] },
  guard: {
    user: 'system:serviceaccount:apisec-system:apisec-guard',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:apisec-system', 'system:authenticated'],
  },
} as const satisfies Record<string, Identity>;

export type IdentityName = keyof typeof identities;

/** What tests need to know about a running control plane; JSON-serialisable (passed to jest workers). */
export interface ControlPlaneInfo {
  kind: 'existing' | 'local';
  server: string;
  /** kubeconfig of the admin identity. */
  kubeconfigPath: string;
  /** kubeconfig per identity (by token on a local control plane, by impersonation on an existing one). */
  kubeconfigs: Record<IdentityName, string>;
  /** kube-apiserver audit log (JSON lines); only on a local control plane. */
  auditLogPath?: string;
  /** etcd's client URL; only on a local control plane. */
  etcdURL?: string;
  workDir?: string;
  pids: number[];
}

export class ControlPlaneError extends Error {
  readonly logTail: string;

  constructor(message: string, logTail = '') {
    super(logTail ? `${message}\n--- last lines of the server log ---\n${logTail}` : message);
    this.name = 'ControlPlaneError';
    this.logTail = logTail;
  }
}

interface Binaries {
  apiserver: string;
  etcd: string;
}

/** Finds or builds kube-apiserver + etcd. Throws a ControlPlaneError that names the alternatives. */
export function locateBinaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  const assets = env.KUBEBUILDER_ASSETS;
  if (assets) {
    const bins = { apiserver: join(assets, 'kube-apiserver'), etcd: join(assets, 'etcd') };
    for (const b of Object.values(bins)) {
      if (!existsSync(b)) throw new ControlPlaneError(`KUBEBUILDER_ASSETS=${assets} has no ${b}`);
    }
    return bins;
  }
  const build = spawnSync('bash', [join(repoRoot, 'test/controlplane/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  if (build.error) throw new ControlPlaneError(`cannot run test/controlplane/build.sh: ${build.error.message}`);
  if (build.status !== 0) {
    throw new ControlPlaneError(
      `building the test control plane failed (exit ${build.status}); see the messages above.\n` +
        'Alternatives: KUBEBUILDER_ASSETS=<dir with kube-apiserver and etcd>, or ' +
        'USE_EXISTING_CLUSTER=true with KUBECONFIG.',
    );
  }
  const dir = build.stdout.trim().split('\n').pop() ?? '';
  return { apiserver: join(dir, 'kube-apiserver'), etcd: join(dir, 'etcd') };
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolvePort(addr.port) : reject(new Error('no port'))));
    });
  });
}

function tail(path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// Each server runs under a small bash guard that kills it when the process that started it dies,
// so a crashed or killed test run leaves no orphaned etcd or kube-apiserver behind.
const GUARD = `
parent=$1; shift
"$@" & child=$!
trap 'kill $child 2>/dev/null; wait $child; exit 143' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
if kill -0 "$child" 2>/dev/null; then kill "$child"; fi
wait "$child"
`;

export function startGuarded(bin: string, args: string[], logPath: string, guardPid: number | undefined, env?: NodeJS.ProcessEnv): ChildProcess {
  // Output goes straight to the log file (not through pipes), so a server outlives a detached parent.
  const fd = openSync(logPath, 'a');
  const opts = { stdio: ['ignore', fd, fd] as ['ignore', number, number], detached: guardPid === undefined, ...(env ? { env } : {}) };
  const child =
    guardPid === undefined
      ? spawn(bin, args, opts)
      : spawn('bash', ['-c', GUARD, 'guard', String(guardPid), bin, ...args], opts);
  closeSync(fd);
  return child;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  procs: { child: ChildProcess; log: string; name: string }[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const p of procs) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        throw new ControlPlaneError(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}) before ${what}`, tail(p.log));
      }
    }
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const last = procs[procs.length - 1];
  throw new ControlPlaneError(`${what} did not happen within ${timeoutMs / 1000}s`, last ? tail(last.log) : '');
}

function kubeconfigYaml(server: string, caData: string | undefined, user: string, auth: Record<string, unknown>): string {
  const cluster = caData ? { server, 'certificate-authority-data': caData } : { server, 'insecure-skip-tls-verify': true };
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'apisec-test', cluster }],
    users: [{ name: user, user: auth }],
    contexts: [{ name: 'apisec-test', context: { cluster: 'apisec-test', user, namespace: 'default' } }],
    'current-context': 'apisec-test',
  });
}

const AUDIT_POLICY = JSON.stringify({
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'None', nonResourceURLs: ['/readyz*', '/livez*', '/healthz*', '/version', '/openapi*', '/metrics'] },
    { level: 'Metadata' },
  ],
});

export interface StartOptions {
  /** Kill the servers when this process dies (tests). The background cluster of `cluster:up` passes false. */
  tieToThisProcess?: boolean;
  /** Where to keep state; a fresh temp dir by default. */
  workDir?: string;
  readyTimeoutMs?: number;
  /** More kube-apiserver flags, e.g. `--watch-cache=false` (watches served from etcd, so a compacted history answers 410). */
  apiserverArgs?: string[];
}

/** Starts a control plane, or describes the existing cluster the environment points at. */
export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlaneInfo> {
  if (process.env.USE_EXISTING_CLUSTER === 'true') return existingCluster();
  const bins = locateBinaries();
  let lastError: unknown;
  // A port picked as free can be taken before the server binds it: try fresh ports a few times.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startLocal(bins, opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof ControlPlaneError) || !/address already in use/i.test(err.message)) throw err;
    }
  }
  throw lastError;
}

function existingCluster(): ControlPlaneInfo {
  const path = process.env.KUBECONFIG;
  if (!path || !existsSync(path)) {
    throw new ControlPlaneError('USE_EXISTING_CLUSTER=true needs KUBECONFIG to name an existing kubeconfig file');
  }
  // Other identities act through impersonation of the admin's credentials.
  const admin = JSON.parse(
    spawnSync('kubectl', ['config', 'view', '--raw', '--minify', '-o', 'json'], { encoding: 'utf8', env: process.env }).stdout,
  ) as { clusters: { cluster: { server: string } }[] };
  const server = admin.clusters[0]?.cluster.server ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'apisec-existing-'));
  const kubeconfigs = { admin: path } as Record<IdentityName, string>;
  for (const name of ['operator', 'tenant'] as const) {
    const p = join(dir, `${name}.kubeconfig`);
    const raw = spawnSync('kubectl', ['config', 'view', '--raw', '--minify', '-o', 'json'], { encoding: 'utf8' }).stdout;
    const cfg = JSON.parse(raw) as { users: { user: Record<string, unknown> }[] };
    const u = cfg.users[0];
    if (u) {
      u.user.as = identities[name].user;
      u.user['as-groups'] = identities[name].groups;
    }
    writeFileSync(p, JSON.stringify(cfg));
    kubeconfigs[name] = p;
  }
  return { kind: 'existing', server, kubeconfigPath: path, kubeconfigs, workDir: dir, pids: [] };
}

async function startLocal(bins: Binaries, opts: StartOptions): Promise<ControlPlaneInfo> {
  const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), 'apisec-cp-'));
  mkdirSync(workDir, { recursive: true });
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const guard = opts.tieToThisProcess === false ? undefined : process.pid;
  const procs: { child: ChildProcess; log: string; name: string }[] = [];
  const stopAll = (): void => procs.forEach((p) => p.child.kill('SIGTERM'));

  try {
    const etcdLog = join(workDir, 'etcd.log');
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcdArgs = [
      `--data-dir=${join(workDir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ];
    const etcd = startGuarded(bins.etcd, etcdArgs, etcdLog, guard);
    procs.push({ child: etcd, log: etcdLog, name: 'etcd' });
    await waitFor('etcd became healthy', async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000, procs);

    const certDir = join(workDir, 'certs');
    mkdirSync(certDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = join(workDir, 'sa.key');
    writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const tokens = Object.fromEntries(
      Object.keys(identities).map((n) => [n, randomBytes(24).toString('hex')]),
    ) as Record<IdentityName, string>;
    const tokenFile = join(workDir, 'tokens.csv');
    writeFileSync(
      tokenFile,
      (Object.keys(identities) as IdentityName[])
        .map((n) => `${tokens[n]},${identities[n].user},${n},"${identities[n].groups.join(',')}"`)
        .join('\n') + '\n',
    );
    const auditPolicy = join(workDir, 'audit-policy.json');
    writeFileSync(auditPolicy, AUDIT_POLICY);
    const auditLogPath = join(workDir, 'audit.log');
    const apiLog = join(workDir, 'kube-apiserver.log');
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserverArgs = [
        `--etcd-servers=${etcdUrl}`,
        `--cert-dir=${certDir}`,
        `--secure-port=${apiPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=RBAC',
        `--token-auth-file=${tokenFile}`,
        `--service-account-issuer=${server}`,
        `--service-account-key-file=${saKey}`,
        `--service-account-signing-key-file=${saKey}`,
        '--disable-admission-plugins=ServiceAccount',
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true',
        `--audit-policy-file=${auditPolicy}`,
        `--audit-log-path=${auditLogPath}`,
        '--audit-log-format=json',
        '--audit-log-mode=blocking',
        '--v=1',
        ...(opts.apiserverArgs ?? []),
      ];
    const apiserver = startGuarded(bins.apiserver, apiserverArgs, apiLog, guard);
    procs.push({ child: apiserver, log: apiLog, name: 'kube-apiserver' });

    await waitFor(
      'kube-apiserver became ready',
      async () => {
        const res = await insecureGet(`${server}/readyz`, tokens.admin);
        return res === 200;
      },
      opts.readyTimeoutMs ?? 90_000,
      procs,
    );
    const caPath = join(certDir, 'apiserver.crt');
    const caData = existsSync(caPath) ? readFileSync(caPath).toString('base64') : undefined;
    const kubeconfigs = {} as Record<IdentityName, string>;
    for (const name of Object.keys(identities) as IdentityName[]) {
      const p = join(workDir, `${name}.kubeconfig`);
      writeFileSync(p, kubeconfigYaml(server, caData, name, { token: tokens[name] }));
      kubeconfigs[name] = p;
    }
    const info: ControlPlaneInfo = {
      kind: 'local',
      server,
      kubeconfigPath: kubeconfigs.admin,
      kubeconfigs,
      auditLogPath,
      etcdURL: etcdUrl,
      workDir,
      pids: procs.map((p) => p.child.pid ?? 0),
    };
    // The fault suite kills and restarts the servers (same ports, data, certificates).
    servers.set(workDir, {
      etcd: restartable(info, 0, { first: etcd, spawn: () => startGuarded(bins.etcd, etcdArgs, etcdLog, guard), ready: () => waitFor('etcd became healthy', async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000, []) }),
      'kube-apiserver': restartable(info, 1, {
        first: apiserver,
        spawn: () => startGuarded(bins.apiserver, apiserverArgs, apiLog, guard),
        ready: () => waitFor('kube-apiserver became ready', async () => (await insecureGet(`${server}/readyz`, tokens.admin)) === 200, opts.readyTimeoutMs ?? 90_000, []),
      }),
    });
    writeFileSync(join(workDir, 'controlplane.json'), JSON.stringify(info, null, 2));
    for (const p of procs) p.child.unref();
    return info;
  } catch (err) {
    stopAll();
    if (opts.workDir === undefined) setTimeout(() => rmSync(workDir, { recursive: true, force: true }), 2000).unref();
    throw err;
  }
}

// The self-signed serving certificate is generated at start-up; readiness is polled before the CA
// is known, so this one probe skips verification (loopback only).
async function insecureGet(url: string, token: string): Promise<number> {
  const https = await import('node:https');
  return new Promise((res) => {
    const req = https.get(url, { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('error', () => res(0));
    req.on('timeout', () => req.destroy());
  });
}

/** Kills (SIGKILL, the server itself, not its guard) and restarts a server of a local control plane started by this process. */
export interface ServerControl {
  kill(): Promise<void>;
  start(): Promise<void>;
}

type ServerName = 'etcd' | 'kube-apiserver';
const servers = new Map<string, Record<ServerName, ServerControl>>();

/** `index`: the server's place in info.pids, kept current across restarts for stopControlPlane. */
function restartable(info: ControlPlaneInfo, index: number, how: { first: ChildProcess; spawn: () => ChildProcess; ready: () => Promise<void> }): ServerControl {
  let current = how.first;
  return {
    kill: async () => {
      const pid = childOf(current.pid ?? 0) ?? current.pid;
      const exited = new Promise((r) => current.once('exit', r));
      if (pid) signal(pid, 'SIGKILL');
      await exited;
    },
    start: async () => {
      current = how.spawn();
      current.unref();
      info.pids[index] = current.pid ?? 0;
      await how.ready();
    },
  };
}

export function serverControl(info: ControlPlaneInfo, name: ServerName): ServerControl {
  const control = info.workDir ? servers.get(info.workDir)?.[name] : undefined;
  if (!control) throw new Error('servers can be restarted only on a local control plane this process started');
  return control;
}

export const apiServerControl = (info: ControlPlaneInfo): ServerControl => serverControl(info, 'kube-apiserver');

/** The first child of a process (Linux /proc): the server under its bash guard. */
export function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/** Stops the servers of a local control plane and removes its state. Safe to call twice. */
export async function stopControlPlane(info: ControlPlaneInfo, removeState = true): Promise<void> {
  if (info.kind === 'existing') {
    if (info.workDir) rmSync(info.workDir, { recursive: true, force: true });
    return;
  }
  // kube-apiserver first, then etcd, so the server does not log a storm of etcd errors.
  for (const pid of [...info.pids].reverse()) {
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) signal(pid, 'SIGKILL');
  }
  if (removeState && info.workDir) rmSync(info.workDir, { recursive: true, force: true });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    // A detached server leads its own process group; the guarded ones are bash guards.
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
