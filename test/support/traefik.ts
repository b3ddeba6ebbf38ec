// A real Traefik v3 (built from Go modules by test/traefik/build.sh) against the test API server, for
// the Traefik provider's traffic tests. Everything listens on 127.0.0.1; Traefik watches only the
// namespaces it is given, with the admin identity, and never dials out (no version check, no usage
// statistics). Backends are ExternalName Services pointing at 127.0.0.1: kube-apiserver refuses
// loopback addresses in Endpoints and EndpointSlices ("may not be in the loopback range"). Traefik's
// Gateway provider refuses ExternalName Services, so an HTTPRoute reaches them through a TraefikService
// of its CRD provider (loopbackTraefikService).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { KubeClient } from '../../src/k8s/client.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { childOf, freePort, repoRoot, startGuarded, type ControlPlaneInfo } from './controlplane.ts';
import { apply, eventually, loadYamlFile, waitEstablished } from './kube.ts';

const moduleDir = join(repoRoot, 'test/traefik');
const goEnv = (): NodeJS.ProcessEnv => ({ ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' });

/**
 * The traefik binary: TRAEFIK_BIN, or built (once) by test/traefik/build.sh. Asynchronous, so a cold
 * build (tens of minutes on 2 cores; test/tools/prepare.ts builds it before the tests) does not block
 * the event loop.
 */
export async function traefikBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.TRAEFIK_BIN) {
    if (!existsSync(env.TRAEFIK_BIN)) throw new Error(`TRAEFIK_BIN=${env.TRAEFIK_BIN} does not exist`);
    return env.TRAEFIK_BIN;
  }
  const child = spawn('bash', [join(moduleDir, 'build.sh')], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`cannot run test/traefik/build.sh: ${err.message}`, { cause: err })));
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`building Traefik failed (exit ${code}); see the messages above, or set TRAEFIK_BIN`);
  return join(stdout.trim().split('\n').pop() ?? '', 'traefik');
}

/** Where the pinned Traefik module lies in the Go module cache (downloaded by the build). */
export function traefikModuleDir(): string {
  const r = spawnSync('go', ['list', '-m', '-f', '{{.Dir}}', 'github.com/traefik/traefik/v3'], { cwd: moduleDir, encoding: 'utf8', env: goEnv() });
  const dir = r.stdout?.trim();
  if (r.error || r.status !== 0 || !dir) {
    throw new Error(`cannot locate the Traefik module (go list in test/traefik): ${r.error?.message ?? r.stderr}`);
  }
  return dir;
}

/** Traefik's own CRDs (traefik.io), read from the module cache: never copied into this repository. */
export function traefikCrdFile(): string {
  const file = process.env.TRAEFIK_CRDS ?? join(traefikModuleDir(), 'docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml');
  if (!existsSync(file)) throw new Error(`Traefik CRD file not found: ${file}`);
  return file;
}

/** Installs Traefik's CRDs and the `traefik` IngressClass, and waits until the CRDs are Established. */
export async function installTraefikCrds(client: KubeClient): Promise<string[]> {
  const crds = loadYamlFile(traefikCrdFile()).filter((o) => o.kind === 'CustomResourceDefinition');
  for (const crd of crds) await apply(client, crd);
  for (const crd of crds) await waitEstablished(client, crd.metadata.name);
  await apply(client, {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: 'traefik' },
    spec: { controller: 'traefik.io/ingress-controller' },
  });
  return crds.map((c) => c.metadata.name);
}

interface Kubeconfig {
  clusters?: { cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users?: { user: { token?: string } }[];
}

export interface RunningTraefik {
  /** The bash guard (see controlplane.ts). */
  guardPid: number;
  /** The traefik process under the guard (Linux /proc), or undefined. */
  pid(): number | undefined;
  dir: string;
  /** Entry point ports on 127.0.0.1. */
  web: number;
  websecure: number;
  /** API and ping (entry point `traefik`). */
  api: number;
  accessLogPath: string;
  logPath: string;
  /** Access log entries (JSON lines). */
  accessLog(): Record<string, unknown>[];
  /** The last lines of Traefik's own log (all of it with Infinity). */
  logTail(lines?: number): string;
  /** GET on Traefik's API, e.g. /api/http/routers. */
  apiGet<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

export interface TraefikOptions {
  /** Namespaces Traefik watches (every provider). */
  namespaces: string[];
  /**
   * Also run the kubernetesGateway provider (controllerName traefik.io/gateway-controller): the Gateway
   * API CRDs must be installed. Its listeners map to the entry points by port (web, websecure).
   */
  gateway?: boolean;
}

/** Starts Traefik against the control plane with the admin identity; resolves once /ping answers. */
export async function startTraefik(cp: ControlPlaneInfo, opts: TraefikOptions): Promise<RunningTraefik> {
  const bin = await traefikBinary();
  let lastError: unknown;
  // A port picked as free can be taken before Traefik binds it: try fresh ports a few times.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(bin, cp, opts);
    } catch (err) {
      lastError = err;
      if (!/address already in use/i.test(String(err))) throw err;
    }
  }
  throw lastError;
}

function providerConnection(cp: ControlPlaneInfo, dir: string): { static: Record<string, unknown>; env: Record<string, string> } {
  const kc = parse(readFileSync(cp.kubeconfigs.admin, 'utf8')) as Kubeconfig;
  const cluster = kc.clusters?.[0]?.cluster;
  const token = kc.users?.[0]?.user.token;
  if (cluster && token && cluster['certificate-authority-data']) {
    const caPath = join(dir, 'apiserver-ca.crt');
    writeFileSync(caPath, Buffer.from(cluster['certificate-authority-data'], 'base64'), { mode: 0o600 });
    const tokenPath = join(dir, 'token');
    writeFileSync(tokenPath, token, { mode: 0o600 });
    // `token` takes a value or a file path (Traefik's FileOrContent).
    return { static: { endpoint: cluster.server, token: tokenPath, certAuthFilePath: caPath }, env: {} };
  }
  // An existing cluster with another kind of credentials: Traefik reads the kubeconfig itself.
  return { static: {}, env: { KUBECONFIG: cp.kubeconfigs.admin } };
}

async function startOnce(bin: string, cp: ControlPlaneInfo, opts: TraefikOptions): Promise<RunningTraefik> {
  const dir = mkdtempSync(join(tmpdir(), 'apisec-traefik-'));
  const [web, websecure, api] = [await freePort(), await freePort(), await freePort()];
  const conn = providerConnection(cp, dir);
  const accessLogPath = join(dir, 'access.log');
  const logPath = join(dir, 'traefik.log');
  const lifeCycle = { graceTimeOut: '1s' };
  const config = {
    global: { checkNewVersion: false, sendAnonymousUsage: false },
    entryPoints: {
      web: { address: `127.0.0.1:${web}`, transport: { lifeCycle } },
      // TLS on every router of this entry point, with Traefik's generated default certificate.
      websecure: { address: `127.0.0.1:${websecure}`, http: { tls: {} }, transport: { lifeCycle } },
      traefik: { address: `127.0.0.1:${api}`, transport: { lifeCycle } },
    },
    providers: {
      providersThrottleDuration: '500ms',
      kubernetesIngress: { ...conn.static, namespaces: opts.namespaces, allowExternalNameServices: true },
      kubernetesCRD: { ...conn.static, namespaces: opts.namespaces, allowExternalNameServices: true },
      ...(opts.gateway ? { kubernetesGateway: { ...conn.static, namespaces: opts.namespaces } } : {}),
    },
    api: { insecure: true, dashboard: false },
    ping: { entryPoint: 'traefik' },
    log: { level: 'INFO', noColor: true },
    accessLog: { filePath: accessLogPath, format: 'json', bufferingSize: 0 },
  };
  const configPath = join(dir, 'traefik.yml');
  writeFileSync(configPath, stringify(config), { mode: 0o600 });

  // The guard ends Traefik when this process dies. Traefik's env must not point it at another cluster:
  // in-cluster variables and KUBECONFIG take precedence over `endpoint`.
  const env = { ...process.env, ...conn.env };
  if (!conn.env.KUBECONFIG) delete env.KUBECONFIG;
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.KUBERNETES_SERVICE_PORT;
  const child = startGuarded(bin, [`--configFile=${configPath}`], logPath, process.pid, env);
  const guardPid = child.pid ?? 0;
  const tail = (lines = 40): string => {
    try {
      return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = tail();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`traefik exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log}`);
    }
    const ok = await fetch(`http://127.0.0.1:${api}/ping`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      const log = tail();
      await stop();
      throw new Error(`traefik did not answer /ping within 30s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    guardPid,
    pid: () => childOf(guardPid),
    dir,
    web,
    websecure,
    api,
    accessLogPath,
    logPath,
    accessLog: () =>
      existsSync(accessLogPath)
        ? readFileSync(accessLogPath, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [],
    logTail: tail,
    apiGet: async <T>(path: string): Promise<T> => {
      const res = await fetch(`http://127.0.0.1:${api}${path}`);
      if (!res.ok) throw new Error(`traefik API ${path}: ${res.status}`);
      return (await res.json()) as T;
    },
    stop,
  };
}

export interface TraefikRouter {
  name: string;
  provider: string;
  status: string;
  rule: string;
  entryPoints?: string[];
  middlewares?: string[];
  error?: string[];
  tls?: unknown;
}

/**
 * Waits until Traefik has a router for the given host on each of its entry points, enabled and with
 * exactly the given middlewares (Traefik ids, e.g. ns-name@kubernetescrd), and returns those routers.
 */
export async function waitForRouters(t: RunningTraefik, host: string, middlewares: string[], timeoutMs = 30_000): Promise<TraefikRouter[]> {
  return eventually(async () => {
    const all = await t.apiGet<TraefikRouter[]>('/api/http/routers');
    const routers = all.filter((r) => r.provider === 'kubernetes' && (r.rule.includes(`Host("${host}")`) || r.rule.includes(`Host(\`${host}\`)`)));
    if (routers.length < 2) {
      const known = all.map((r) => `${r.name} [${r.provider}] ${r.rule} ${r.status}`).join('\n  ');
      throw new Error(`traefik has ${routers.length} routers for ${host}; all routers:\n  ${known}\n${t.logTail(15)}`);
    }
    for (const r of routers) {
      if (r.status !== 'enabled') throw new Error(`router ${r.name} is ${r.status}: ${(r.error ?? []).join('; ')}`);
      if (JSON.stringify(r.middlewares ?? []) !== JSON.stringify(middlewares)) {
        throw new Error(`router ${r.name} has middlewares ${JSON.stringify(r.middlewares)}, want ${JSON.stringify(middlewares)}`);
      }
    }
    return routers;
  }, timeoutMs, 250);
}

/** Sockets of a process whose remote end is not loopback (Linux /proc); [] where /proc is missing. */
export function nonLoopbackSockets(pid: number): string[] {
  if (!existsSync(`/proc/${pid}/fd`)) return [];
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const found: string[] = [];
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6']) {
    let table: string;
    try {
      table = readFileSync(`/proc/${pid}/net/${proto}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [remote, inode] = [cols[2], cols[9]];
      if (!remote || !inode || !inodes.has(inode)) continue;
      const addr = remote.split(':')[0] ?? '';
      const loopbackOrUnset =
        /^0+$/.test(addr) || // listening / unconnected
        (addr.length === 8 && addr.endsWith('7F')) || // 127.x.x.x, little-endian hex
        addr === '00000000000000000000000001000000' || // ::1
        (addr.length === 32 && addr.startsWith('0000000000000000FFFF0000') && addr.endsWith('7F')); // ::ffff:127.x
      if (!loopbackOrUnset) found.push(`${proto} ${remote}`);
    }
  }
  return found;
}


// ---- backends ----

export interface LocalServer {
  port: number;
  /** Requests seen, in order. */
  seen: { method: string; url: string; headers: IncomingHttpHeaders; bytes: number }[];
  close(): Promise<void>;
}

async function listen(server: Server, seen: LocalServer['seen']): Promise<LocalServer> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    seen,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The API: answers 200 with the method, the path and the size of the body it received (after 3 s on /slow). */
export async function startEchoUpstream(): Promise<LocalServer> {
  const seen: LocalServer['seen'] = [];
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes });
      const answer = (): void => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, bytes, user: req.headers['x-user'] ?? null }));
      };
      // /slow keeps the request in flight for 3 s (for concurrency limits).
      if (req.url?.startsWith('/slow')) setTimeout(answer, 3000);
      else answer();
    });
  });
  return listen(server, seen);
}

/** An external auth endpoint: 200 (with X-User) when `header` carries `key`, 401 without the header, 403 with another value. */
export async function startAuthServer(header: string, key: string): Promise<LocalServer> {
  const seen: LocalServer['seen'] = [];
  const server = createServer((req, res) => {
    req.resume();
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes: 0 });
    const given = req.headers[header.toLowerCase()];
    if (given === key) {
      res.writeHead(200, { 'X-User': 'alice' });
      res.end();
    } else if (given === undefined) {
      res.writeHead(401, { 'WWW-Authenticate': 'ApiKey', 'Content-Type': 'text/plain' });
      res.end('no key\n');
    } else {
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end('wrong key\n');
    }
  });
  return listen(server, seen);
}

/** A Service of type ExternalName that sends the Ingress backend to a server on 127.0.0.1:port. */
export function loopbackService(ns: string, name: string, port: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ name: 'http', port, protocol: 'TCP' }] },
  };
}

/** A TraefikService (CRD provider) in front of a loopbackService, for HTTPRoute backendRefs. */
export function loopbackTraefikService(ns: string, name: string, service: string, port: number): KubeObject {
  return { apiVersion: 'traefik.io/v1alpha1', kind: 'TraefikService', metadata: { name, namespace: ns }, spec: { weighted: { services: [{ name: service, port }] } } };
}

// ---- requests ----

/** control → what was sent → status seen, for the table a traffic test prints at the end. */
export class StatusLog {
  private readonly seen: { control: string; request: string; status: number }[] = [];

  record(control: string, request: string, r: Reply): Reply {
    this.seen.push({ control, request, status: r.status });
    return r;
  }

  print(title: string): void {
    if (!this.seen.length) return;
    const width = Math.max(...this.seen.map((s) => s.control.length));
    console.log(`${title}:\n${this.seen.map((s) => `  ${s.control.padEnd(width)}  ${s.status}  ${s.request}`).join('\n')}`);
  }
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Call {
  port: number;
  host: string;
  tls?: boolean;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Source address: any of 127.0.0.0/8 is loopback on Linux, so tests can act as different clients. */
  localAddress?: string;
}

/** One HTTP(S) request to Traefik with a Host header (and SNI), without keep-alive or redirects. */
export function call(c: Call): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { Host: c.host, ...c.headers };
    if (c.body !== undefined) headers['Content-Length'] = Buffer.byteLength(c.body);
    const opts = {
      host: '127.0.0.1',
      port: c.port,
      method: c.method ?? 'GET',
      path: c.path ?? '/',
      headers,
      localAddress: c.localAddress,
      agent: false as const,
      timeout: 10_000,
    };
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    };
    // Traefik's default certificate is self-signed: this loopback client does not verify it.
    const req = c.tls ? httpsRequest({ ...opts, servername: c.host, rejectUnauthorized: false }, onResponse) : httpRequest(opts, onResponse);
    req.on('timeout', () => req.destroy(new Error(`request to ${c.host}${c.path ?? '/'} timed out`)));
    req.on('error', reject);
    if (c.body !== undefined) req.write(c.body);
    req.end();
  });
}
