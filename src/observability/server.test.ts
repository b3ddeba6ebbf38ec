import { pino } from 'pino';
import { Counter, Registry } from './metrics.ts';
import { startHttpServer, type CheckResult, type HttpServer } from './server.ts';

describe('startHttpServer', () => {
  const registry = new Registry();
  const hits = new Counter({ name: 'apisec_hits_total', help: 'Hits.', registers: [registry] });
  let ready: CheckResult = { ok: false, detail: 'informers not synced: ingresses' };
  let server: HttpServer;
  let base: string;

  beforeAll(async () => {
    server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      checks: {
        healthz: () => ({ ok: true }),
        readyz: () => ready,
      },
      log: pino({ level: 'silent' }),
    });
    base = `http://127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server.close();
    await server.close(); // safe twice
  });

  it('listens on the port it picked', () => {
    expect(server.port).toBeGreaterThan(0);
  });

  it('serves metrics in the Prometheus text format', async () => {
    hits.inc(2);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toBe('# HELP apisec_hits_total Hits.\n# TYPE apisec_hits_total counter\napisec_hits_total 2\n');
  });

  it('answers /healthz with 200 ok', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  });

  it('answers /readyz with 503 and the detail until ready, then 200 ok', async () => {
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe('informers not synced: ingresses');
    ready = { ok: true };
    const res = await fetch(`${base}/readyz?verbose=1`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  });

  it('serves only what it was given: metrics on one server, probes on another', async () => {
    const log = pino({ level: 'silent' });
    const metricsOnly = await startHttpServer({ port: 0, host: '127.0.0.1', registry, log });
    const probesOnly = await startHttpServer({ port: 0, host: '127.0.0.1', checks: { healthz: () => ({ ok: true }), readyz: () => ({ ok: true }) }, log });
    try {
      const status = async (port: number, path: string): Promise<number> => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        await res.text();
        return res.status;
      };
      expect([await status(metricsOnly.port, '/metrics'), await status(metricsOnly.port, '/healthz'), await status(metricsOnly.port, '/readyz')]).toEqual([200, 404, 404]);
      expect([await status(probesOnly.port, '/metrics'), await status(probesOnly.port, '/healthz'), await status(probesOnly.port, '/readyz')]).toEqual([404, 200, 200]);
    } finally {
      await metricsOnly.close();
      await probesOnly.close();
    }
  });

  it('answers 404 for unknown paths and 405 for other methods than GET', async () => {
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    await missing.text();
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.text();
  });
});
