// The operator's plain-HTTP endpoints for the kubelet and Prometheus: /healthz (liveness), /readyz
// (readiness) and /metrics. Nothing here is secret, and nothing here changes state, so only GET (and
// HEAD, which every HTTP server must support) is served.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from './metrics.ts';

export interface CheckResult {
  ok: boolean;
  detail?: string;
}

export type HealthCheck = () => CheckResult;

export interface HealthServerOptions {
  /** 0 picks a free port; the real one is returned. */
  port: number;
  /** Defaults to 0.0.0.0 so the kubelet and Prometheus can reach the pod. */
  host?: string;
  registry: Registry;
  checks: { healthz: HealthCheck; readyz: HealthCheck };
  log: Logger;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';
const METRICS = 'text/plain; version=0.0.4; charset=utf-8';

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const { registry, checks, log } = opts;
  const host = opts.host ?? '0.0.0.0';

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const send = (status: number, body: string, type = TEXT): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(405, 'method not allowed\n');
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    try {
      switch (path) {
        case '/metrics':
          return send(200, registry.render(), METRICS);
        case '/healthz':
        case '/readyz': {
          const result = path === '/healthz' ? checks.healthz() : checks.readyz();
          return result.ok ? send(200, 'ok') : send(503, result.detail ?? 'not ok');
        }
        default:
          return send(404, 'not found\n');
      }
    } catch (err) {
      // A failing check or collector must answer, not hang the probe: it reports unhealthy.
      log.error({ err, path }, 'Health endpoint failed');
      return send(path === '/metrics' ? 500 : 503, err instanceof Error ? err.message : String(err));
    }
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'Health server failed'));
  const port = (server.address() as AddressInfo).port;
  log.info({ host, port }, 'Started health server');

  let closing: Promise<void> | undefined;
  return {
    port,
    close: (): Promise<void> => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive connections would otherwise hold close() open until they time out.
        server.closeIdleConnections();
      }).then(() => log.info({ port }, 'Stopped health server'));
      return closing;
    },
  };
}
