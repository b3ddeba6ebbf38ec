// KubeClient against a local HTTPS server (127.0.0.1, self-signed certificate made with openssl):
// connections are pooled and reused, watches cannot starve requests, and credentials that rotate are
// picked up on the next request without a new client.
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from './client.ts';

let dir: string;
let server: Server;
let url: string;
let caData: string;
let tlsConnections = 0;
let throttled = 0;
const authSeen: string[] = [];
const openWatches = new Set<ServerResponse>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'apisec-client-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'));
  caData = cert.toString('base64');
  server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert, keepAliveTimeout: 60_000 }, (req, res) => {
    authSeen.push(req.headers.authorization ?? '');
    res.setHeader('content-type', 'application/json');
    if (req.url?.includes('/stall')) return; // never answers: a stalled server or connection
    if (req.url?.includes('/throttle')) {
      // The first two answers 429 with Retry-After 1; /throttle-long asks for an hour.
      throttled++;
      if (req.url.includes('long') || throttled <= 2) {
        res.writeHead(429, { 'Retry-After': req.url.includes('long') ? '3600' : '1' });
        res.end('{"kind":"Status","code":429}');
        return;
      }
    }
    if (req.url?.includes('watch=1')) {
      // A watch: the stream stays open until the client aborts it.
      openWatches.add(res);
      res.on('close', () => openWatches.delete(res));
      res.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1"}}}\n');
      return;
    }
    req.resume();
    req.on('end', () => res.end('{"metadata":{"resourceVersion":"1"}}'));
  });
  server.on('secureConnection', () => tlsConnections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const w of openWatches) w.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function kubeconfig(user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: url, caData }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

const patch = (client: KubeClient): Promise<unknown> =>
  client.request('PATCH', '/apis/networking.k8s.io/v1/namespaces/a/ingresses/b', { verb: 'patch', body: { metadata: {} }, contentType: 'application/apply-patch+yaml' });

describe('KubeClient connections', () => {
  it('reuses a bounded pool of TLS connections across sequential and concurrent requests', async () => {
    const client = new KubeClient(kubeconfig({ token: 't' }), { maxConnections: 4 });
    const before = tlsConnections;
    for (let i = 0; i < 200; i++) await patch(client);
    await Promise.all(Array.from({ length: 50 }, () => patch(client)));
    // A new dispatcher per request would have opened 250.
    expect(tlsConnections - before).toBeGreaterThanOrEqual(1);
    expect(tlsConnections - before).toBeLessThanOrEqual(4);
    await client.close();
  });

  it('serves requests while more watches are open than the request pool has connections', async () => {
    const client = new KubeClient(kubeconfig({ token: 't' }), { maxConnections: 2 });
    const abort = new AbortController();
    const watches = await Promise.all(
      Array.from({ length: 6 }, () => client.stream('/api/v1/namespaces', { verb: 'watch', query: { watch: 1 }, signal: abort.signal })),
    );
    expect(openWatches.size).toBeGreaterThanOrEqual(6);
    // With watches in the capped pool this request would queue behind them until the test times out.
    await expect(patch(client)).resolves.toEqual({ metadata: { resourceVersion: '1' } });
    abort.abort();
    await Promise.all(watches.map((w) => w.body?.cancel().catch(() => undefined)));
    await client.close();
  });
});

describe('KubeClient timeouts', () => {
  it('ends an ordinary request that gets no answer, as a retryable network error, and leaves the pool it used', async () => {
    const client = new KubeClient(kubeconfig({ token: 't' }), { requestTimeoutMs: 300 });
    // Idle keep-alive connections in the pool.
    await Promise.all([patch(client), patch(client), patch(client)]);
    const started = Date.now();
    await expect(client.request('GET', '/stall', { verb: 'get' })).rejects.toMatchObject({ status: 0, reason: 'NetworkError' });
    expect(Date.now() - started).toBeLessThan(10_000);
    // Works afterwards, on a new connection: the idle ones may be as dead as the one that stalled.
    const before = tlsConnections;
    await expect(patch(client)).resolves.toEqual({ metadata: { resourceVersion: '1' } });
    expect(tlsConnections - before).toBe(1);
    await client.close();
  });

  it('retries a 429 after its short Retry-After, as client-go does, and leaves a long one to the caller', async () => {
    const client = new KubeClient(kubeconfig({ token: 't' }));
    const started = Date.now();
    await expect(client.request('PATCH', '/throttle', { verb: 'patch', body: {} })).resolves.toEqual({ metadata: { resourceVersion: '1' } });
    expect(throttled).toBe(3);
    // Not before the server asked (twice 1 s); lateness is the machine's.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    await expect(client.request('PATCH', '/throttle-long', { verb: 'patch', body: {} })).rejects.toMatchObject({ status: 429, retryAfterSeconds: 3600 });
    await client.close();
  });

  it('never ends a watch by that timeout (the informer’s watchdog does)', async () => {
    const client = new KubeClient(kubeconfig({ token: 't' }), { requestTimeoutMs: 200 });
    const abort = new AbortController();
    const res = await client.stream('/api/v1/namespaces', { verb: 'watch', query: { watch: 1 }, signal: abort.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 600));
    expect(openWatches.size).toBeGreaterThanOrEqual(1);
    abort.abort();
    await reader.cancel().catch(() => undefined);
    await client.close();
  });
});

describe('KubeClient rate limit', () => {
  it('sends a burst at once, then qps requests per second; watches are not limited', async () => {
    const client = new KubeClient(kubeconfig({ token: 't' }), { qps: 20, burst: 5 });
    const started = performance.now();
    await Promise.all(Array.from({ length: 9 }, () => patch(client)));
    // The 4 requests past the burst wait for tokens at 20/s, the last one 200 ms: a lower bound only
    // (a slow machine makes it longer, never shorter), that the limit holds requests back.
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    const abort = new AbortController();
    const watch = await client.stream('/api/v1/namespaces', { verb: 'watch', query: { watch: 1 }, signal: abort.signal });
    abort.abort();
    await watch.body?.cancel().catch(() => undefined);
    await client.close();
  });
});

describe('KubeClient credentials', () => {
  it('computes the Authorization header per request (a changed token is used at once)', async () => {
    const kc = kubeconfig({ token: 'first' });
    const client = new KubeClient(kc);
    await patch(client);
    (kc.getCurrentUser() as { token?: string }).token = 'second';
    await patch(client);
    expect(authSeen.slice(-2)).toEqual(['Bearer first', 'Bearer second']);
    await client.close();
  });

  it('re-runs an exec plugin whose credential has expired, on the next request of the same client', async () => {
    const tokenPath = join(dir, 'exec-token');
    writeFileSync(tokenPath, 'exec-1');
    // The plugin prints the token file's content with an expiry in the past, so each request re-runs it.
    const script = `process.stdout.write(JSON.stringify({apiVersion:'client.authentication.k8s.io/v1',kind:'ExecCredential',status:{token:require('fs').readFileSync(${JSON.stringify(tokenPath)},'utf8'),expirationTimestamp:'2000-01-01T00:00:00Z'}}))`;
    const client = new KubeClient(kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', script], interactiveMode: 'Never' } }));
    await patch(client);
    writeFileSync(tokenPath, 'exec-2');
    await patch(client);
    expect(authSeen.slice(-2)).toEqual(['Bearer exec-1', 'Bearer exec-2']);
    await client.close();
  });

  it('re-reads a rotated ServiceAccount token file (in-cluster auth) once client-node’s 60 s cache has passed', async () => {
    const tokenFile = join(dir, 'sa-token');
    writeFileSync(tokenFile, 'sa-1');
    const client = new KubeClient(kubeconfig({ authProvider: { name: 'tokenFile', config: { tokenFile } } }));
    // Only Date is faked: undici and the server keep their real timers.
    jest.useFakeTimers({ doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    try {
      await patch(client);
      writeFileSync(tokenFile, 'sa-2');
      jest.setSystemTime(Date.now() + 61_000);
      await patch(client);
    } finally {
      jest.useRealTimers();
    }
    expect(authSeen.slice(-2)).toEqual(['Bearer sa-1', 'Bearer sa-2']);
    await client.close();
  });
});
