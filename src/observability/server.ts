// The operator's HTTP endpoints for the kubelet and Prometheus: /healthz (liveness), /readyz
// (readiness) and /metrics. As in controller-runtime, metrics and probes have their own addresses, so
// one server serves the probes, the other /metrics, or one serves all when both addresses are the same.
// Nothing here changes state, so only GET (and HEAD, which every HTTP server must support) is served.
// With `auth` (--metrics-auth=kubernetes) /metrics needs a bearer token the API server accepts and the
// server speaks HTTPS (`tls`); /healthz and /readyz stay open to the kubelet, also on a shared server.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import type { Logger } from 'pino';
import type { AuthDecision, MetricsAuth } from './metrics-auth.ts';
import type { Registry } from './metrics.ts';
import type { ServingTls } from './tls.ts';

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
  /** Protects /metrics (and only /metrics). */
  auth?: Pick<MetricsAuth, 'check'>;
  /** Serve HTTPS with this certificate (reloaded when it changes). */
  tls?: ServingTls;
  log: Logger;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

/** The answer to a refused /metrics request: no detail beyond the status, nothing of the token. */
function refusal(d: Exclude<AuthDecision, { status: 200 }>): { headers: Record<string, string>; body: string } {
  if (d.status === 401) return { headers: { 'WWW-Authenticate': 'Bearer' }, body: 'Unauthorized\n' };
  if (d.status === 403) return { headers: {}, body: `Forbidden: user "${d.user}" may not get /metrics\n` };
  return { headers: { 'Retry-After': '5' }, body: 'Service Unavailable\n' };
}

/** Listens on host:port (0: a free port) and resolves with the port, or rejects with the bind error. */
export async function listenOn(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { registry, checks, auth, tls, log } = opts;
  const host = opts.host ?? '0.0.0.0';

  const serves = [...(registry ? ['/metrics'] : []), ...(checks ? ['/healthz', '/readyz'] : [])];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (status: number, body: string, type = TEXT, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { ...headers, 'Content-Type': type, 'Cache-Control': 'no-store' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(405, 'method not allowed\n');
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    try {
      if (path === '/metrics' && registry) {
        const decision = auth ? await auth.check(req.headers.authorization) : undefined;
        if (decision && decision.status !== 200) {
          const { headers, body } = refusal(decision);
          return send(decision.status, body, TEXT, headers);
        }
        return send(200, await registry.metrics(), registry.contentType);
      }
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

  const listener = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res);
  const server = tls ? createHttpsServer({ ...tls.current(), minVersion: 'TLSv1.2' }, listener) : createServer(listener);
  const port = await listenOn(server, opts.port, host);
  server.on('error', (err) => log.error({ err }, 'Health server failed'));
  // A renewed certificate serves new connections; open ones keep theirs.
  const stopWatching = tls?.watch((pair) => (server as ReturnType<typeof createHttpsServer>).setSecureContext({ ...pair, minVersion: 'TLSv1.2' }));
  log.info({ host, port, serves, ...(tls ? { tls: tls.source } : {}), ...(auth ? { metricsAuth: 'kubernetes' } : {}) }, tls ? 'Started HTTPS server' : 'Started HTTP server');

  let closing: Promise<void> | undefined;
  return {
    port,
    close: (): Promise<void> => {
      stopWatching?.();
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive connections would otherwise hold close() open until they time out.
        server.closeIdleConnections();
      }).then(() => log.info({ port, serves }, 'Stopped HTTP server'));
      return closing;
    },
  };
}
