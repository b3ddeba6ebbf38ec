// Runs a real nginx (Debian's nginx-light, found or installed by test/tools/prepare.ts) with a generated
// configuration exactly as the sidecar container starts it (src/render/sidecar-container.ts): the same
// command (the start script, by /bin/sh) and arguments, the config in its own read-only directory laid
// out as the kubelet mounts a ConfigMap (a `..data` link swapped on update), the prefix a brand-new empty
// directory (nothing pre-created), APISEC_APP_PORT as the webhook sets it, and as a non-root user. Plus
// small upstream helpers. Used by the sidecar traffic and hostile-input tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { APP_PORT_ENV, SIDECAR_COMMAND, SIDECAR_CONFIG_KEY, sidecarArgs } from '../../src/render/sidecar-container.ts';
import { findNginx } from '../tools/prepare.ts';

let nginxPath: string | undefined;

/** The nginx the tests run: the one `npm run prepare:test` finds (NGINX, PATH, the usual sbin folders). */
export function nginxBinary(): string {
  nginxPath ??= findNginx()?.path;
  if (nginxPath) return nginxPath;
  throw new Error('nginx not found: run `npm run prepare:test` (as root on Debian/Ubuntu it installs nginx-light) or set NGINX=<path to nginx>');
}

/**
 * The container's environment: nginx on PATH (as in the image), APISEC_APP_PORT when given (as the
 * webhook sets it), and no NGINX, which nginx reads as inherited listening sockets.
 */
function nginxEnv(appPort?: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(nginxBinary())}${delimiter}${process.env.PATH ?? ''}` };
  delete env.NGINX;
  delete env[APP_PORT_ENV];
  if (appPort !== undefined) env[APP_PORT_ENV] = String(appPort);
  return env;
}

/** nobody: the uid nginx runs as when the tests run as root, as under the pod's runAsNonRoot. */
const NOBODY = 65534;

/** The uid nginx will run as: nobody when the tests run as root, else the tests' own (non-root) uid. */
export function nginxUid(): number | undefined {
  return process.getuid?.() === 0 ? NOBODY : undefined;
}

/**
 * The process to spawn: the container's command and args (`extra` appended: `-t` only checks), when
 * the tests run as root dropped to nobody by setpriv (util-linux). Without setpriv, root tests fail
 * loudly rather than silently testing another start.
 */
export function nginxCommand(prefix: string, configFile: string, extra: string[] = []): { file: string; args: string[] } {
  const [program, ...commandArgs] = SIDECAR_COMMAND;
  if (program !== '/bin/sh') throw new Error(`unexpected sidecar command ${JSON.stringify(SIDECAR_COMMAND)}`);
  const args = [...commandArgs, ...sidecarArgs(prefix, configFile), ...extra];
  const uid = nginxUid();
  if (uid === undefined) return { file: program, args };
  if (spawnSync('setpriv', ['--version']).status !== 0) throw new Error('tests run as root but setpriv (util-linux) is missing: cannot start nginx as a non-root user');
  return { file: 'setpriv', args: [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', program, ...args] };
}

export interface SidecarDirs {
  root: string;
  /** The emptyDir: brand new and empty, world-writable as kubelet creates an emptyDir. */
  prefix: string;
  /** The ConfigMap mount as the kubelet makes it: nginx.conf → ..data/nginx.conf, ..data → a 0555 directory holding the 0444 file. */
  configDir: string;
  configFile: string;
  /** A new ConfigMap version, swapped in as the kubelet does (a new directory, then an atomic rename of ..data). */
  update(conf: string): void;
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
  let version = 0;
  const writeVersion = (text: string): string => {
    const dir = `..v${++version}`;
    mkdirSync(join(configDir, dir));
    writeFileSync(join(configDir, dir, SIDECAR_CONFIG_KEY), text);
    chmodSync(join(configDir, dir, SIDECAR_CONFIG_KEY), 0o444);
    chmodSync(join(configDir, dir), 0o555);
    return dir;
  };
  symlinkSync(writeVersion(conf), join(configDir, '..data'));
  symlinkSync(join('..data', SIDECAR_CONFIG_KEY), configFile);
  const update = (text: string): void => {
    const next = writeVersion(text);
    symlinkSync(next, join(configDir, '..data_tmp'));
    renameSync(join(configDir, '..data_tmp'), join(configDir, '..data'));
  };
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
    update,
    remove() {
      for (let v = 1; v <= version; v++) chmodSync(join(configDir, `..v${v}`), 0o755);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** `nginx -t` on a config, by the container's start script (`-t`); returns the exit status and output. */
export function nginxTest(conf: string, appPort?: number): { ok: boolean; output: string } {
  const dirs = sidecarDirs(conf);
  try {
    const cmd = nginxCommand(dirs.prefix, dirs.configFile, ['-t']);
    const fd = openSync(dirs.stdout, 'a');
    const r = spawnSync(cmd.file, cmd.args, { stdio: ['ignore', fd, fd], env: nginxEnv(appPort) });
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

/** The sidecar as its container starts it, listening on `port`; `appPort` is the APISEC_APP_PORT the webhook would set. */
export async function startNginx(conf: string, port: number, opts: { appPort?: number } = {}): Promise<RunningNginx> {
  const dirs = sidecarDirs(conf);
  const cmd = nginxCommand(dirs.prefix, dirs.configFile);
  const fd = openSync(dirs.stdout, 'a');
  const proc = spawn('bash', ['-c', GUARD, 'guard', String(process.pid), cmd.file, ...cmd.args], {
    stdio: ['ignore', fd, fd],
    env: nginxEnv(opts.appPort),
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
