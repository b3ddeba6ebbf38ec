// The test control plane's failure paths, with stand-in binaries (small scripts) in KUBEBUILDER_ASSETS:
// a crashing etcd and a server that never becomes ready give a clear error with the log's tail within a
// bounded time and leave no process behind; no Go gives one message naming the alternatives.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlaneError, alive, repoRoot, startControlPlane } from '../support/controlplane.ts';

function assets(etcd: string, apiserver: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'apisec-fake-assets-'));
  for (const [name, body] of [['etcd', etcd], ['kube-apiserver', apiserver]] as const) {
    writeFileSync(join(dir, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

/** Every process whose command line mentions the folder (our stand-ins run from it). */
function processesUsing(dir: string): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return ps
    .split('\n')
    .filter((l) => l.includes(dir) && !l.includes('ps -eo'))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter((pid) => alive(pid));
}

describe('test control plane failures', () => {
  const saved = process.env.KUBEBUILDER_ASSETS;
  afterEach(() => {
    if (saved === undefined) delete process.env.KUBEBUILDER_ASSETS;
    else process.env.KUBEBUILDER_ASSETS = saved;
  });

  it('a crashing etcd: a ControlPlaneError with the tail of its log, no orphan', async () => {
    const dir = assets('echo "etcd: listen tcp 127.0.0.1: bind: address already in use" >&2; exit 1', 'sleep 60');
    process.env.KUBEBUILDER_ASSETS = dir;
    const started = Date.now();
    const err = await startControlPlane({ readyTimeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as Error).message).toMatch(/etcd exited/);
    expect((err as Error).message).toContain('address already in use');
    expect(Date.now() - started).toBeLessThan(30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(processesUsing(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a server that never becomes ready: an error within the timeout with its log tail, no orphan', async () => {
    // etcd "works" (answers /health on the port it was given), the apiserver only logs and sleeps.
    const etcd = `port=$(echo "$@" | sed -E 's/.*--listen-client-urls=http:\\/\\/127.0.0.1:([0-9]+).*/\\1/')
exec python3 -c "
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{\\"health\\":\\"true\\"}')
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()" "$port"`;
    const dir = assets(etcd, 'echo "I1128 waiting for the storage to come up"; exec sleep 600');
    process.env.KUBEBUILDER_ASSETS = dir;
    const started = Date.now();
    const err = await startControlPlane({ readyTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as Error).message).toContain('kube-apiserver became ready did not happen within 3s');
    expect((err as Error).message).toContain('waiting for the storage');
    expect(Date.now() - started).toBeLessThan(30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(processesUsing(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  }, 40_000);

  it('no Go: one message naming the requirement and both alternatives', () => {
    const run = spawnSync('bash', [join(repoRoot, 'test/controlplane/build.sh')], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' } });
    expect(run.status).toBe(3);
    expect(run.stderr).toContain('Go >= 1.25 is needed');
    expect(run.stderr).toContain('KUBEBUILDER_ASSETS');
    expect(run.stderr).toContain('USE_EXISTING_CLUSTER=true');
    expect(run.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
