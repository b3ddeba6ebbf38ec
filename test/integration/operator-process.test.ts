// The operator as users run it, as its own identity, with leader election: one replica as `npm start`
// runs it (node src/main.ts), the other as the image runs it (the Dockerfile's build command and
// ENTRYPOINT, read from the Dockerfile, in the image's layout), so a difference between the sources and
// the build cannot hide. Two replicas elect one leader; the leader reconciles and serves /metrics,
// /healthz, /readyz; SIGTERM finishes cleanly, releases the lease, and the standby takes over.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
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
  port?: number;
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

function startReplica(name: string, leaseNs: string, watchNs: string, how: Entrypoint): Replica {
  const proc = spawn(
    process.execPath,
    [...how.args, '--namespace', watchNs, '--metrics-port', '0', '--metrics-bind-address', '127.0.0.1', '--leader-election-namespace', leaseNs, '--leader-election-id', `apisec-${watchNs}`.slice(0, 63)],
    { cwd: how.cwd, env: { ...process.env, KUBECONFIG: controlPlane().kubeconfigs.operator, POD_NAME: name, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const r: Replica = { proc, logs: [], exited: new Promise((res) => proc.on('exit', (code) => res(code))) };
  const onLine = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      r.logs.push(line);
      const port = /"port":(\d+)/.exec(line);
      if (port && r.port === undefined) r.port = Number(port[1]);
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
    replicas.push(startReplica('replica-a', leaseNs, ns, fromSources));
    const a = replicas[0]!;
    await eventually(async () => expect((await lease(admin, leaseNs, leaseName)).spec?.holderIdentity).toBe('replica-a'), 20_000);
    replicas.push(startReplica('replica-b', leaseNs, ns, image.entrypoint));
    const b = replicas[1]!;

    await apply(admin, policy(ns, 'api', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }], rateLimit: { requestsPerSecond: 7 } }));
    await eventually(async () => {
      const i = await admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, 'api'), { verb: 'get' });
      expect(i.metadata.annotations?.['nginx.ingress.kubernetes.io/limit-rps']).toBe('7');
    }, 20_000);

    await eventually(async () => expect(a.port).toBeDefined());
    const metrics = await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text();
    expect(metrics).toMatch(/apisec_reconcile_total\{controller="apisecuritypolicy",result="success"\} [1-9]/);
    expect(metrics).toMatch(/apisec_leader 1/);
    expect(metrics).toMatch(/apisec_writes_total\{kind="ingresses",operation="patch"\} [1-9]/);
    expect((await fetch(`http://127.0.0.1:${a.port}/healthz`)).status).toBe(200);
    await eventually(async () => expect((await fetch(`http://127.0.0.1:${a.port}/readyz`)).status).toBe(200));
    // The standby keeps warm caches and is ready, but does not lead.
    await eventually(async () => expect(b.port).toBeDefined());
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
});
