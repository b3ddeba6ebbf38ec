// Runs a real nginx (Debian package, installed by .ci/run) with a generated configuration, in its own
// prefix directory on 127.0.0.1, plus small upstream helpers. Used by the sidecar traffic tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function nginxBinary(): string {
  for (const p of [process.env.NGINX, '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    if (p && spawnSync(p, ['-v']).status === 0) return p;
  }
  throw new Error('nginx is not installed: run `apt-get install nginx-light` (as .ci/run does) or set NGINX=<path>');
}

/** `nginx -t` on a config; returns the exit status and output. */
export function nginxTest(conf: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'apisec-nginx-t-'));
  try {
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(join(dir, 'nginx.conf'), conf);
    // stdout/stderr to a file: node's stdio pipes are sockets, which nginx cannot open as /dev/stdout.
    const fd = openSync(join(dir, 'out.log'), 'w');
    const r = spawnSync(nginxBinary(), ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return { ok: r.status === 0, output: readFileSync(join(dir, 'out.log'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RunningNginx {
  dir: string;
  proc: ChildProcess;
  accessLog: () => string[];
  stop(): Promise<void>;
}

const GUARD = `parent=$1; shift; "$@" & child=$!; trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done; kill $child 2>/dev/null; wait $child`;

export async function startNginx(conf: string, port: number): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'apisec-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  // The container's stdout is a pipe or file; here it is a file (node's pipes are sockets, which
  // nginx cannot open as /dev/stdout).
  const logPath = join(dir, 'stdout.log');
  const fd = openSync(logPath, 'w');
  const proc = spawn('bash', ['-c', GUARD, 'guard', String(process.pid), nginxBinary(), '-p', dir, '-c', confPath, '-g', 'daemon off;'], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const out = (): string[] => readFileSync(logPath, 'utf8').split('\n').filter(Boolean);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${out().join('\n')}`);
    const ok = await fetch(`http://127.0.0.1:${port}/.apisec/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}: ${out().join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    dir,
    proc,
    accessLog: () => out().filter((l) => l.startsWith('{')),
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.on('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
