// A real redis-server (Debian's package, found like test/tools/prepare.ts finds it; REDIS_SERVER points at
// another) on 127.0.0.1 and a free port, without persistence, for the global rate-limit tests. It can be
// stopped and started again on the same port, as a store outage and its end.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findRedisServer } from '../tools/prepare.ts';
import { freePort, startGuarded } from './controlplane.ts';

export interface RunningRedis {
  port: number;
  endpoint: string;
  /** Ends the server (an outage); `start` brings it back on the same port, empty. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Sends one inline command and returns the raw reply (e.g. FLUSHALL → +OK). */
  command(line: string): Promise<string>;
  close(): Promise<void>;
}

function inline(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(`${line}\r\n`));
    s.setTimeout(2000, () => s.destroy(new Error('redis-server did not answer within 2s')));
    s.once('data', (d) => (resolve(d.toString()), s.end()));
    s.once('error', reject);
  });
}

export async function startRedis(): Promise<RunningRedis> {
  const bin = findRedisServer()?.path;
  if (!bin) throw new Error('redis-server not found: run npm run prepare:test (apt-get install redis-server), or set REDIS_SERVER');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'apisec-redis-'));
  const logPath = join(dir, 'redis.log');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--save', '', '--appendonly', 'no', '--dir', dir];
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = startGuarded(bin, args, logPath, process.pid);
    for (let i = 0; i < 100; i++) {
      if (await inline(port, 'PING').then((r) => r.startsWith('+PONG'), () => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis-server did not answer on 127.0.0.1:${port} within 10s:\n${readFileSync(logPath, 'utf8').slice(-2000)}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
    // The guard process forwards the signal; wait until the port is free.
    for (let i = 0; i < 50 && (await inline(port, 'PING').then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
  };
  await start();
  return {
    port,
    endpoint: `127.0.0.1:${port}`,
    stop,
    start,
    command: (line) => inline(port, line),
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
