// The operator as users run it, as its own identity, with leader election: one replica as `npm start`
// runs it (node src/main.ts), the other as the image runs it (the Dockerfile's build command and
// ENTRYPOINT, read from the Dockerfile, in the image's layout), so a difference between the sources and
// the build cannot hide. Two replicas elect one leader; the leader reconciles and serves /metrics,
// /healthz, /readyz; SIGTERM finishes cleanly, releases the lease, and the standby takes over.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from '../../src/k8s/client.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { repoRoot } from '../support/controlplane.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, installCrds } from '../support/kube.ts';
import { grantOperatorRbac } from '../support/operator.ts';

interface Replica {
  proc: ChildProcess;
  logs: string[];
  /** Of /metrics. */
  port?: number;
  /** Of /healthz and /readyz. */
  healthPort?: number;
  exited: Promise<number | null>;
}

/** How a replica starts: the script and the folder it runs in. */
interface Entrypoint {
  args: string[];
  cwd: string;
}

const fromSources: Entrypoint = { args: [join(repoRoot, 'src/main.ts')], cwd: repoRoot };

/**
 * The image's entrypoint, built as the Dockerfile builds it: its tsc command into dist/ of a folder laid
 * out as /app (dist/, package.json, node_modules), and its ENTRYPOINT run there with this Node.
 */
function imageEntrypoint(): { entrypoint: Entrypoint; remove(): void } {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const build = /^RUN npx (tsc -p \S+)$/m.exec(dockerfile)?.[1];
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  expect(build).toBe('tsc -p tsconfig.build.json');
  expect(/^CMD /m.test(dockerfile)).toBe(false);
  const [program, ...args] = JSON.parse(entry ?? '[]') as string[];
  expect(program).toBe('node');
  expect(args).toEqual(['dist/main.js']);
  const app = mkdtempSync(join(tmpdir(), 'apisec-image-'));
  const tsc = spawnSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), ...(build ?? '').split(' ').slice(1), '--outDir', join(app, 'dist')], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
  expect(tsc.status).toBe(0);
  copyFileSync(join(repoRoot, 'package.json'), join(app, 'package.json'));
  symlinkSync(join(repoRoot, 'node_modules'), join(app, 'node_modules'));
  return { entrypoint: { args, cwd: app }, remove: () => rmSync(app, { recursive: true, force: true }) };
}

/** A port free right now on 127.0.0.1 (for a flag that takes a fixed port). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const { port } = s.address() as AddressInfo;
  await new Promise((res) => s.close(res));
  return port;
}

function startReplica(name: string, leaseNs: string, watchNs: string, how: Entrypoint, addressArgs: string[]): Replica {
  const proc = spawn(
    process.execPath,
    [...how.args, '--namespace', watchNs, ...addressArgs, '--leader-election-namespace', leaseNs, '--leader-election-id', `apisec-${watchNs}`.slice(0, 63)],
    { cwd: how.cwd, env: { ...process.env, KUBECONFIG: controlPlane().kubeconfigs.operator, POD_NAME: name, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const r: Replica = { proc, logs: [], exited: new Promise((res) => proc.on('exit', (code) => res(code))) };
  const onLine = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      r.logs.push(line);
      const server = /"port":(\d+),"serves":\[([^\]]*)\],"msg":"Started HTTP server"/.exec(line);
      if (server?.[2]!.includes('"/metrics"')) r.port = Number(server[1]);
      if (server?.[2]!.includes('"/readyz"')) r.healthPort = Number(server[1]);
    }
  };
  proc.stdout?.on('data', onLine);
  proc.stderr?.on('data', onLine);
  return r;
}

const lease = async (c: KubeClient, ns: string, name: string): Promise<{ spec?: { holderIdentity?: string; leaseTransitions?: number } }> =>
  c.request('GET', objectPath(Resources.lease, ns, name), { verb: 'get' });

describe('the operator process', () => {
  let admin: KubeClient;
  let ns: string;
  const leaseNs = 'apisec-system';
  const replicas: Replica[] = [];
  let image: ReturnType<typeof imageEntrypoint>;

  beforeAll(async () => {
    image = imageEntrypoint();
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    await admin
      .request('POST', '/api/v1/namespaces', { verb: 'create', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: leaseNs } } })
      .catch((e: unknown) => {
        if (!(e instanceof ApiError && e.status === 409)) throw e;
      });
    ns = await createNamespace(admin, 'proc');
    await apply(admin, service(ns, 'api'));
    await apply(admin, ingress(ns, 'api', 'api'));
  }, 150_000);

  afterAll(async () => {
    for (const r of replicas) if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
    image?.remove();
  });

  it('elects one leader, reconciles, serves metrics, and hands over on SIGTERM to the image entrypoint', async () => {
    const leaseName = `apisec-${ns}`.slice(0, 63);
    // replica-a from the sources with the current flags: metrics on a fixed port, probes on their own server.
    const metricsPort = await freePort();
    replicas.push(startReplica('replica-a', leaseNs, ns, fromSources, [`--metrics-bind-address=127.0.0.1:${metricsPort}`, '--health-probe-bind-address=127.0.0.1:0']));
    const a = replicas[0]!;
    await eventually(async () => expect((await lease(admin, leaseNs, leaseName)).spec?.holderIdentity).toBe('replica-a'), 20_000);
    // replica-b as the image runs it, with the deprecated flags of the last release: one server, a warning each.
    replicas.push(startReplica('replica-b', leaseNs, ns, image.entrypoint, ['--metrics-port', '0', '--metrics-bind-address', '127.0.0.1']));
    const b = replicas[1]!;

    await apply(admin, policy(ns, 'api', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }], rateLimit: { requestsPerSecond: 7 } }));
    await eventually(async () => {
      const i = await admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, 'api'), { verb: 'get' });
      expect(i.metadata.annotations?.['nginx.ingress.kubernetes.io/limit-rps']).toBe('7');
    }, 20_000);

    expect(a.port).toBe(metricsPort);
    await eventually(async () => expect(a.healthPort).toBeDefined());
    expect(a.healthPort).not.toBe(a.port);
    // The annotation is written before the reconcile ends (status last), so its count may lag a moment.
    const metrics = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${a.port}/metrics`);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      expect(text).toMatch(/apisec_reconcile_total\{controller="apisecuritypolicy",result="success"\} [1-9]/);
      return text;
    });
    expect(metrics).toMatch(/apisec_leader 1/);
    expect(metrics).toMatch(/apisec_writes_total\{kind="ingresses",operation="patch"\} [1-9]/);
    // prom-client's process and Node.js runtime metrics.
    for (const name of ['process_resident_memory_bytes', 'process_open_fds', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(metrics).toMatch(new RegExp(`^${name} [0-9.e+-]+$`, 'm'));
    }
    // Every controller's queue and reconciles, each on its own queue (at zero until it works).
    for (const name of ['apisecuritypolicy', 'clusterapisecuritypolicy', 'policyreport', 'inventory']) {
      expect(metrics).toMatch(new RegExp(`^apisec_workqueue_depth\\{name="${name}"\\} \\d+$`, 'm'));
      expect(metrics).toMatch(new RegExp(`^apisec_workqueue_adds_total\\{name="${name}"\\} \\d+$`, 'm'));
      expect(metrics).toMatch(new RegExp(`^apisec_workqueue_retries_total\\{name="${name}"\\} \\d+$`, 'm'));
      expect(metrics).toMatch(new RegExp(`^apisec_reconcile_total\\{controller="${name}",result="success"\\} \\d+$`, 'm'));
    }
    expect(metrics).toMatch(/^apisec_workqueue_adds_total\{name="inventory"\} [1-9]/m); // its one key, at start
    expect(metrics).toMatch(/^apisec_reconcile_terminal_errors_total\{controller="apisecuritypolicy"\} \d+$/m);
    expect(metrics).toMatch(/^apisec_informer_healthy\{resource="apisecuritypolicies"\} 1$/m);
    // Probes on their own server; /metrics is not served there.
    expect((await fetch(`http://127.0.0.1:${a.healthPort}/healthz`)).status).toBe(200);
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${a.healthPort}/readyz`)).status).toBe(200));
    expect((await fetch(`http://127.0.0.1:${a.healthPort}/metrics`)).status).toBe(404);
    // The standby keeps warm caches and is ready, but does not lead; its old flags serve all on one port.
    await eventually(async () => expect(b.port).toBeDefined());
    expect(b.healthPort).toBe(b.port);
    expect(b.logs.filter((l) => /"level":40/.test(l) && /is deprecated/.test(l))).toHaveLength(2);
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${b.port}/readyz`)).status).toBe(200));
    expect(await (await fetch(`http://127.0.0.1:${b.port}/metrics`)).text()).toMatch(/apisec_leader 0/);

    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(a.logs.join('\n')).toContain('Stopped operator');
    // Released on shutdown, so the standby takes over without waiting out the 15 s lease.
    await eventually(async () => expect((await lease(admin, leaseNs, leaseName)).spec?.holderIdentity).toBe('replica-b'), 10_000);

    await apply(admin, policy(ns, 'api', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }], rateLimit: { requestsPerSecond: 9 } }));
    await eventually(async () => {
      const i = await admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, 'api'), { verb: 'get' });
      expect(i.metadata.annotations?.['nginx.ingress.kubernetes.io/limit-rps']).toBe('9');
    }, 20_000);
    b.proc.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 90_000);

  it.each([
    ['the sources', () => fromSources],
    ['the image entrypoint', () => image.entrypoint],
  ])('refuses bad flags with one clear line and exit code 2 (%s)', async (_, how) => {
    const { args, cwd } = how();
    const proc = spawn(process.execPath, [...args, '--resync', 'soon'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise((res) => proc.on('exit', res));
    expect(code).toBe(2);
    expect(err).toContain('invalid duration "soon"');
    expect(err).not.toContain('    at ');
  });

  it.each([
    [['--metrics-bind-address=8080'], '--metrics-bind-address must be HOST:PORT'],
    [['--health-probe-bind-address', ':probe'], '--health-probe-bind-address must be HOST:PORT'],
    [['--leader-elect=maybe'], '--leader-elect is true or false, got "maybe"'],
  ])('refuses bad address and boolean flags (%j) with one clear line and exit code 2', async (args, message) => {
    const proc = spawn(process.execPath, [join(repoRoot, 'src/main.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise((res) => proc.on('exit', res));
    expect(code).toBe(2);
    expect(err.split('\n')[0]).toContain(message);
    expect(err.trimEnd().split('\n')).toHaveLength(2); // the line, then the hint to --help
  });
});
