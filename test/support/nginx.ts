// Runs a real nginx (Debian's nginx-light, found or installed by test/tools/prepare.ts) with a generated
// configuration exactly as the sidecar container starts it (src/render/sidecar-container.ts): the same arguments, the config in
// its own read-only directory, the prefix a brand-new empty directory (nothing pre-created), and as a
// non-root user. Plus small upstream helpers. Used by the sidecar traffic and hostile-input tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIDECAR_COMMAND, SIDECAR_CONFIG_KEY, sidecarArgs } from '../../src/render/sidecar-container.ts';
import { findNginx } from '../tools/prepare.ts';

let nginxPath: string | undefined;

/** The nginx the tests run: the one `npm run prepare:test` finds (NGINX, PATH, the usual sbin folders). */
export function nginxBinary(): string {
  nginxPath ??= findNginx()?.path;
  if (nginxPath) return nginxPath;
  throw new Error('nginx not found: run `npm run prepare:test` (as root on Debian/Ubuntu it installs nginx-light) or set NGINX=<path to nginx>');
}

/** nginx's environment without NGINX: nginx reads that variable as inherited listening sockets. */
function nginxEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NGINX;
  return env;
}

/** nobody: the uid nginx runs as when the tests run as root, as under the pod's runAsNonRoot. */
const NOBODY = 65534;

/** The uid nginx will run as: nobody when the tests run as root, else the tests' own (non-root) uid. */
export function nginxUid(): number | undefined {
  return process.getuid?.() === 0 ? NOBODY : undefined;
}

/**
 * The process to spawn: the container's command and args, only the binary resolved here and, when
 * the tests run as root, dropped to nobody by setpriv (util-linux). Without setpriv, root tests fail
 * loudly rather than silently testing another start.
 */
export function nginxCommand(prefix: string, configFile: string, extra: string[] = []): { file: string; args: string[] } {
  const [program, ...commandArgs] = SIDECAR_COMMAND;
  if (program !== 'nginx') throw new Error(`unexpected sidecar command ${JSON.stringify(SIDECAR_COMMAND)}`);
  const args = [...commandArgs, ...extra, ...sidecarArgs(prefix, configFile)];
  const uid = nginxUid();
  if (uid === undefined) return { file: nginxBinary(), args };
  if (spawnSync('setpriv', ['--version']).status !== 0) throw new Error('tests run as root but setpriv (util-linux) is missing: cannot start nginx as a non-root user');
  return { file: 'setpriv', args: [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', nginxBinary(), ...args] };
}

export interface SidecarDirs {
  root: string;
  /** The emptyDir: brand new and empty, world-writable as kubelet creates an emptyDir. */
  prefix: string;
  /** The ConfigMap mount: nginx.conf 0444 in a 0555 directory. */
  configDir: string;
  configFile: string;
  /** The container's stdout+stderr (a file: nginx cannot open node's socket pipes as /dev/stdout). */
  stdout: string;
  remove(): void;
}

/** The sidecar's filesystem as the pod gives it: a read-only config mount and an empty prefix. */
export function sidecarDirs(conf: string): SidecarDirs {
  const uid = nginxUid();
  const root = mkdtempSync(join(tmpdir(), 'apisec-nginx-'));
  chmodSync(root, 0o755); // mkdtemp's 0700 would keep a non-root nginx out
  const prefix = join(root, 'prefix');
  const configDir = join(root, 'config');
  const configFile = join(configDir, SIDECAR_CONFIG_KEY);
  mkdirSync(prefix);
  chmodSync(prefix, 0o777);
  mkdirSync(configDir);
  writeFileSync(configFile, conf);
  chmodSync(configFile, 0o444);
  chmodSync(configDir, 0o555);
  const stdout = join(root, 'stdout.log');
  writeFileSync(stdout, '');
  // The container runtime hands its stdio to the container's user; so does this.
  if (uid !== undefined) chownSync(stdout, uid, uid);
  return {
    root,
    prefix,
    configDir,
    configFile,
    stdout,
    remove() {
      chmodSync(configDir, 0o755);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** `nginx -t` on a config, started as the container starts; returns the exit status and output. */
export function nginxTest(conf: string): { ok: boolean; output: string } {
  const dirs = sidecarDirs(conf);
  try {
    const cmd = nginxCommand(dirs.prefix, dirs.configFile, ['-t', '-q']);
    const fd = openSync(dirs.stdout, 'a');
    const r = spawnSync(cmd.file, cmd.args, { stdio: ['ignore', fd, fd], env: nginxEnv() });
    closeSync(fd);
    return { ok: r.status === 0, output: readFileSync(dirs.stdout, 'utf8') };
  } finally {
    dirs.remove();
  }
}

export interface RunningNginx {
  dirs: SidecarDirs;
  proc: ChildProcess;
  /** Everything nginx wrote to stdout and stderr, by line. */
  output: () => string[];
  accessLog: () => string[];
  stop(): Promise<void>;
}

const GUARD = `parent=$1; shift; "$@" & child=$!; trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done; kill $child 2>/dev/null; wait $child`;

export async function startNginx(conf: string, port: number): Promise<RunningNginx> {
  const dirs = sidecarDirs(conf);
  const cmd = nginxCommand(dirs.prefix, dirs.configFile);
  const fd = openSync(dirs.stdout, 'a');
  const proc = spawn('bash', ['-c', GUARD, 'guard', String(process.pid), cmd.file, ...cmd.args], {
    stdio: ['ignore', fd, fd],
    env: nginxEnv(),
  });
  closeSync(fd);
  const out = (): string[] => readFileSync(dirs.stdout, 'utf8').split('\n').filter(Boolean);
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    dirs.remove();
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const failure = proc.exitCode !== null ? 'nginx exited' : Date.now() > deadline ? `nginx did not listen on ${port}` : undefined;
    if (failure) {
      const output = out().join('\n');
      await stop();
      throw new Error(`${failure}: ${output}`);
    }
    const ok = await fetch(`http://127.0.0.1:${port}/.apisec/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { dirs, proc, output: out, accessLog: () => out().filter((l) => l.startsWith('{')), stop };
}

/** A tiny upstream on 127.0.0.1 that answers 200 with what it received. */
export async function startUpstream(port = 0): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, bytes, forwardedFor: req.headers['x-forwarded-for'] ?? null }));
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr ? addr.port : 0,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP request from a chosen local source address (127.0.0.0/8 is all loopback on Linux). */
export function httpRequest(opts: { port: number; method?: string; path?: string; body?: Buffer | string; headers?: Record<string, string>; localAddress?: string }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: opts.port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: { ...(opts.body !== undefined ? { 'Content-Length': Buffer.byteLength(opts.body) } : {}), ...opts.headers },
        localAddress: opts.localAddress,
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
