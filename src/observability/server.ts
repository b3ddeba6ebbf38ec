// The operator's plain-HTTP endpoints for the kubelet and Prometheus: /healthz (liveness), /readyz
// (readiness) and /metrics. As in controller-runtime, metrics and probes have their own addresses, so
// one server serves the probes, the other /metrics, or one serves all when both addresses are the same.
// Nothing here is secret, and nothing here changes state, so only GET (and HEAD, which every HTTP server
// must support) is served.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from './metrics.ts';

export interface CheckResult {
  ok: boolean;
  detail?: string;
}

export type HealthCheck = () => CheckResult;

export interface HttpServerOptions {
  /** 0 picks a free port; the real one is returned. */
  port: number;
  /** Defaults to 0.0.0.0 so the kubelet and Prometheus can reach the pod. */
  host?: string;
  /** Serves /metrics. */
  registry?: Registry;
  /** Serves /healthz and /readyz. */
  checks?: { healthz: HealthCheck; readyz: HealthCheck };
  log: Logger;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { registry, checks, log } = opts;
  const host = opts.host ?? '0.0.0.0';

  const serves = [...(registry ? ['/metrics'] : []), ...(checks ? ['/healthz', '/readyz'] : [])];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (status: number, body: string, type = TEXT): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(405, 'method not allowed\n');
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    try {
      if (path === '/metrics' && registry) return send(200, await registry.metrics(), registry.contentType);
      if ((path === '/healthz' || path === '/readyz') && checks) {
        const result = path === '/healthz' ? checks.healthz() : checks.readyz();
        return result.ok ? send(200, 'ok') : send(503, result.detail ?? 'not ok');
      }
      return send(404, 'not found\n');
    } catch (err) {
      // A failing check or collector must answer, not hang the probe: it reports unhealthy.
      log.error({ err, path }, 'Health endpoint failed');
      return send(path === '/metrics' ? 500 : 503, err instanceof Error ? err.message : String(err));
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'Health server failed'));
  const port = (server.address() as AddressInfo).port;
  log.info({ host, port, serves }, 'Started HTTP server');

  let closing: Promise<void> | undefined;
  return {
    port,
    close: (): Promise<void> => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive connections would otherwise hold close() open until they time out.
        server.closeIdleConnections();
      }).then(() => log.info({ port, serves }, 'Stopped HTTP server'));
      return closing;
    },
  };
}
