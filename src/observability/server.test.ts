import { pino } from 'pino';
import { Counter, Registry } from './metrics.ts';
import { startHealthServer, type CheckResult, type HealthServer } from './server.ts';

describe('startHealthServer', () => {
  const registry = new Registry();
  const hits = registry.register(new Counter({ name: 'apisec_hits_total', help: 'Hits.' }));
  let ready: CheckResult = { ok: false, detail: 'informers not synced: ingresses' };
  let server: HealthServer;
  let base: string;

  beforeAll(async () => {
    server = await startHealthServer({
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
