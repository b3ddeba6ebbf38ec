// A start that cannot succeed must end the process: `node src/main.ts` against the real API server, as
// users run it. Each case must exit non-zero within a generous bound, print one line that names the cause
// and the flag or RBAC rule that fixes it, and never answer /readyz 200 on the way.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { KubeClient } from '../../src/k8s/client.ts';
import { repoRoot } from '../support/controlplane.ts';
import { clientAs, controlPlane, createNamespace, installCrds } from '../support/kube.ts';
import { bindClusterRole, grantOperatorRbac, operatorRules } from '../support/operator.ts';

/** Generous on a shared 2-core machine: the fix exits in a few seconds, the bug never does. */
const EXIT_BOUND_MS = 20_000;

interface Run {
  code: number | null;
  /** Milliseconds from spawn to exit, or undefined if it was still running at the bound (and killed). */
  exitedAfterMs?: number;
  lines: string[];
  /** Every /readyz status seen while the process ran (0: no answer). */
  readyz: number[];
}

/** Runs the operator until it exits or boundMs passes (then SIGKILL), polling /readyz all along. */
async function runOperator(args: string[], kubeconfig: string, boundMs = EXIT_BOUND_MS): Promise<Run> {
  const started = Date.now();
  const proc: ChildProcess = spawn(process.execPath, [join(repoRoot, 'src/main.ts'), '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0', ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: `fatal-${process.pid}`, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: Run = { code: null, lines: [], readyz: [] };
  let port: number | undefined;
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      run.lines.push(line);
      const m = /"port":(\d+),"serves":\[[^\]]*"\/readyz"[^\]]*\],"msg":"Started HTTP server"/.exec(line);
      if (m) port = Number(m[1]);
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  let running = true;
  const exited = new Promise<void>((res) =>
    proc.on('exit', (code) => {
      running = false;
      run.code = code;
      run.exitedAfterMs = Date.now() - started;
      res();
    }),
  );
  const poll = (async () => {
    while (running) {
      if (port !== undefined) {
        const status = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.status,
          () => 0,
        );
        if (running) run.readyz.push(status);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const bound = setTimeout(() => proc.kill('SIGKILL'), boundMs);
  await exited;
  clearTimeout(bound);
  await poll;
  if (run.exitedAfterMs !== undefined && run.exitedAfterMs >= boundMs) delete run.exitedAfterMs;
  return run;
}

const fatalLines = (r: Run): string[] => r.lines.filter((l) => l.includes('"level":60'));

/** The admin's kubeconfig acting as another user (the API server authorizes that user's RBAC). */
function impersonating(dir: string, user: string): string {
  const cfg = parse(readFileSync(controlPlane().kubeconfigs.admin, 'utf8')) as {
    'current-context': string;
    contexts: { name: string; context: { user: string } }[];
    users: { name: string; user: Record<string, unknown> }[];
  };
  const name = cfg.contexts.find((c) => c.name === cfg['current-context'])?.context.user;
  const u = cfg.users.find((x) => x.name === name);
  if (!u) throw new Error('admin kubeconfig has no current user');
  u.user.as = user;
  const path = join(dir, `${user}.kubeconfig`);
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

describe('a fatal start', () => {
  let admin: KubeClient;
  let watchNs: string;
  let tmp: string;
  const times: Record<string, number | undefined> = {};

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    watchNs = await createNamespace(admin, 'fatal');
    tmp = mkdtempSync(join(tmpdir(), 'apisec-fatal-'));
  });

  const roles: string[] = [];

  afterAll(async () => {
    process.stdout.write(`fatal-start exit times (ms): ${JSON.stringify(times)}\n`);
    rmSync(tmp, { recursive: true, force: true });
    for (const name of roles) {
      for (const kind of ['clusterrolebindings', 'clusterroles']) {
        await admin.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/${kind}/${name}`, { verb: 'delete' }).catch(() => undefined);
      }
    }
  });

  it('exits non-zero and names the missing lease namespace and its flag, never ready', async () => {
    const missing = `apisec-missing-${process.pid}`;
    const r = await runOperator(['--namespace', watchNs, '--leader-election-namespace', missing], controlPlane().kubeconfigs.operator);
    times.leaseNamespaceMissing = r.exitedAfterMs;
    expect(r.exitedAfterMs).toBeDefined();
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    const fatal = fatalLines(r);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toContain(`lease namespace ${missing} not found`);
    expect(fatal[0]).toContain('--leader-election-namespace');
    expect(r.readyz.length).toBeGreaterThan(0);
    expect(r.readyz).not.toContain(200);
  }, 60_000);

  it('exits non-zero and names the RBAC rule when leases are forbidden', async () => {
    const user = `apisec-no-lease-${process.pid}`;
    roles.push(user);
    await bindClusterRole(admin, user, user, operatorRules.filter((r) => !r.apiGroups.includes('coordination.k8s.io')));
    const leaseNs = await createNamespace(admin, 'fatal-lease');
    const r = await runOperator(['--namespace', watchNs, '--leader-election-namespace', leaseNs], impersonating(tmp, user));
    times.leasesForbidden = r.exitedAfterMs;
    expect(r.exitedAfterMs).toBeDefined();
    expect(r.code).not.toBe(0);
    const fatal = fatalLines(r);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toContain(`forbidden to get leases.coordination.k8s.io in namespace ${leaseNs}`);
    expect(fatal[0]).toContain('grant get, create and update on leases');
    expect(r.readyz).not.toContain(200);
  }, 60_000);

  it('exits non-zero and names the address flag when the metrics port is taken', async () => {
    const taken: Server = createServer();
    await new Promise<void>((res) => taken.listen(0, '127.0.0.1', res));
    const port = (taken.address() as AddressInfo).port;
    try {
      const r = await runOperator(['--namespace', watchNs, '--metrics-bind-address', `127.0.0.1:${port}`, '--leader-election-namespace', watchNs], controlPlane().kubeconfigs.operator);
      times.metricsPortTaken = r.exitedAfterMs;
      expect(r.exitedAfterMs).toBeDefined();
      expect(r.code).not.toBe(0);
      const fatal = fatalLines(r);
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toContain(`address 127.0.0.1:${port} of --metrics-bind-address is already in use`);
      expect(fatal[0]).not.toContain('--metrics-port');
    } finally {
      await new Promise((res) => taken.close(res));
    }
  }, 60_000);

  it('exits non-zero when the caches cannot sync in time, naming the informer and the timeout flag', async () => {
    const user = `apisec-no-policies-${process.pid}`;
    roles.push(user);
    await bindClusterRole(admin, user, user, operatorRules.filter((r) => !r.resources.includes('apisecuritypolicies')));
    const r = await runOperator(['--namespace', watchNs, '--leader-elect=false', '--cache-sync-timeout', '3s'], impersonating(tmp, user));
    times.cacheSyncTimeout = r.exitedAfterMs;
    expect(r.exitedAfterMs).toBeDefined();
    expect(r.code).not.toBe(0);
    const fatal = fatalLines(r);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toContain('caches not synced within 3 s: apisecuritypolicies');
    expect(fatal[0]).toContain('--cache-sync-timeout');
    expect(r.readyz.length).toBeGreaterThan(0);
    expect(r.readyz).not.toContain(200);
  }, 60_000);
});
