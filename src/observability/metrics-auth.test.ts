import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { FakeClock } from '../../test/support/clock.ts';
import { MetricsAuth, bearerToken, type MetricsReviewer, type MetricsUser } from './metrics-auth.ts';
import { Counter, Registry } from './metrics.ts';
import { selfSignedCertificate } from './self-signed.ts';
import { startHttpServer } from './server.ts';
import { servingTls } from './tls.ts';

const TOKEN = 'secret-token-of-prometheus';

/** A reviewer over a table: token → user, user → allowed; counts its calls. */
function fakeReviewer(users: Record<string, MetricsUser>, allowed: Set<string>) {
  const calls = { authenticate: 0, authorize: [] as { user: MetricsUser; attributes: unknown }[] };
  let failure: Error | undefined;
  const reviewer: MetricsReviewer = {
    authenticate: (token) => (calls.authenticate++, failure ? Promise.reject(failure) : Promise.resolve(users[token])),
    authorize: (user, attributes) => (calls.authorize.push({ user, attributes }), Promise.resolve({ allowed: allowed.has(user.username), reason: 'RBAC: no rule' })),
  };
  return { reviewer, calls, fail: (e: Error | undefined) => (failure = e) };
}

/** A pino logger whose lines the test reads. */
function recordingLog() {
  const lines: string[] = [];
  return { lines, log: pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) }) };
}

describe('bearerToken', () => {
  it.each<[string | undefined, string | undefined]>([
    ['Bearer abc.def', 'abc.def'],
    ['bearer abc', 'abc'],
    ['Bearer  abc ', 'abc'],
    ['Bearer', undefined],
    ['Bearer ', undefined],
    ['Basic dXNlcjpwdw==', undefined],
    ['Bearer a b', undefined],
    [undefined, undefined],
  ])('reads %j as %j', (header, token) => expect(bearerToken(header)).toBe(token));
});

describe('MetricsAuth', () => {
  const prometheus: MetricsUser = { username: 'system:serviceaccount:monitoring:prometheus', uid: 'u-1', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['prom-0'] } };
  const users = { [TOKEN]: prometheus, 'tenant-token': { username: 'tenant-dev' } };

  it('answers 401 without or with an unknown token, 403 when RBAC refuses, 200 when it allows', async () => {
    const { reviewer, calls } = fakeReviewer(users, new Set([prometheus.username]));
    const { log, lines } = recordingLog();
    const auth = new MetricsAuth({ reviewer, log, clock: new FakeClock() });
    expect(await auth.check(undefined)).toEqual({ status: 401, reason: 'a bearer token is required' });
    expect(await auth.check('Basic x')).toMatchObject({ status: 401 });
    expect(calls.authenticate).toBe(0); // nothing to review
    expect(await auth.check('Bearer garbage')).toEqual({ status: 401, reason: 'the token is not valid' });
    expect(await auth.check('Bearer tenant-token')).toEqual({ status: 403, user: 'tenant-dev', reason: 'RBAC: no rule' });
    expect(await auth.check(`Bearer ${TOKEN}`)).toEqual({ status: 200, user: prometheus.username });
    // The SubjectAccessReview gets the whole user and the non-resource attributes of GET /metrics.
    expect(calls.authorize.at(-1)).toEqual({ user: prometheus, attributes: { path: '/metrics', verb: 'get' } });
    expect(lines.join('')).not.toContain('tenant-token');
    expect(lines.join('')).not.toContain(TOKEN);
  });

  it('remembers an allow 60 s and a deny 10 s by default, per token', async () => {
    const clock = new FakeClock();
    const { reviewer, calls } = fakeReviewer(users, new Set([prometheus.username]));
    const auth = new MetricsAuth({ reviewer, log: pino({ level: 'silent' }), clock });
    await auth.check(`Bearer ${TOKEN}`);
    await auth.check('Bearer garbage');
    clock.advance(9_000);
    await auth.check(`Bearer ${TOKEN}`);
    await auth.check('Bearer garbage');
    expect(calls.authenticate).toBe(2);
    clock.advance(1_000);
    await auth.check('Bearer garbage');
    await auth.check(`Bearer ${TOKEN}`);
    expect(calls.authenticate).toBe(3);
    clock.advance(50_000);
    await auth.check(`Bearer ${TOKEN}`);
    expect(calls.authenticate).toBe(4);
  });

  it('answers 503 when the API server fails, remembers nothing, and logs no token', async () => {
    const { reviewer, calls, fail } = fakeReviewer(users, new Set([prometheus.username]));
    const { log, lines } = recordingLog();
    const auth = new MetricsAuth({ reviewer, log, clock: new FakeClock() });
    fail(new Error('POST /apis/authentication.k8s.io/v1/tokenreviews: 500 InternalError'));
    expect(await auth.check(`Bearer ${TOKEN}`)).toEqual({ status: 503, reason: 'the token cannot be checked now' });
    fail(undefined);
    expect(await auth.check(`Bearer ${TOKEN}`)).toMatchObject({ status: 200 });
    expect(calls.authenticate).toBe(2);
    expect(lines.join('')).toContain('tokenreviews: 500');
    expect(lines.join('')).not.toContain(TOKEN);
  });

  it('answers 503 when the reviews take longer than timeoutMs', async () => {
    const reviewer: MetricsReviewer = {
      authenticate: (_t, signal) => new Promise((_res, rej) => signal.addEventListener('abort', () => rej(new Error('aborted')))),
      authorize: () => Promise.resolve({ allowed: true }),
    };
    const auth = new MetricsAuth({ reviewer, log: pino({ level: 'silent' }), timeoutMs: 20 });
    expect(await auth.check(`Bearer ${TOKEN}`)).toMatchObject({ status: 503 });
  });
});

/** GET over HTTPS, trusting only `ca` (and checking the name 127.0.0.1). */
function get(url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the metrics server with --metrics-auth=kubernetes', () => {
  const registry = new Registry();
  new Counter({ name: 'apisec_hits_total', help: 'Hits.', registers: [registry] }).inc();
  const users = { [TOKEN]: { username: 'prometheus' }, 'tenant-token': { username: 'tenant-dev' } };

  it('protects only /metrics on a shared HTTPS server, with the self-signed certificate', async () => {
    const log = pino({ level: 'silent' });
    const tls = servingTls({ hosts: ['localhost', '127.0.0.1'], log });
    const auth = new MetricsAuth({ reviewer: fakeReviewer(users, new Set(['prometheus'])).reviewer, log });
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', registry, checks: { healthz: () => ({ ok: true }), readyz: () => ({ ok: true }) }, auth, tls, log });
    const base = `https://127.0.0.1:${server.port}`;
    const ca = tls.current().cert;
    try {
      const none = await get(`${base}/metrics`, ca);
      expect([none.status, none.headers['www-authenticate'], none.body]).toEqual([401, 'Bearer', 'Unauthorized\n']);
      expect((await get(`${base}/metrics`, ca, { Authorization: 'Bearer garbage' })).status).toBe(401);
      const forbidden = await get(`${base}/metrics`, ca, { Authorization: 'Bearer tenant-token' });
      expect([forbidden.status, forbidden.body]).toEqual([403, 'Forbidden: user "tenant-dev" may not get /metrics\n']);
      const ok = await get(`${base}/metrics`, ca, { Authorization: `Bearer ${TOKEN}` });
      expect([ok.status, ok.body]).toEqual([200, '# HELP apisec_hits_total Hits.\n# TYPE apisec_hits_total counter\napisec_hits_total 1\n']);
      for (const probe of ['/healthz', '/readyz']) expect((await get(`${base}${probe}`, ca)).status).toBe(200);
      // Another certificate is not trusted: the server really presents the one it was given.
      await expect(get(`${base}/healthz`, selfSignedCertificate(['127.0.0.1']).cert)).rejects.toThrow(/self[- ]signed|unable to verify/i);
    } finally {
      await server.close();
    }
  });

  it('serves the pair from --metrics-cert-dir and the renewed one once it changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apisec-metrics-tls-'));
    const write = (): string => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
      return execFileSync('cat', [join(dir, 'tls.crt')], { encoding: 'utf8' });
    };
    const first = write();
    const log = pino({ level: 'silent' });
    const tls = servingTls({ certDir: dir, log, pollMs: 50 });
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', registry, auth: new MetricsAuth({ reviewer: fakeReviewer(users, new Set(['prometheus'])).reviewer, log }), tls, log });
    try {
      const url = `https://127.0.0.1:${server.port}/metrics`;
      expect((await get(url, first, { Authorization: `Bearer ${TOKEN}` })).status).toBe(200);
      const second = write();
      expect(new X509Certificate(second).serialNumber).not.toBe(new X509Certificate(first).serialNumber);
      const deadline = Date.now() + 5_000;
      let served: number | string = 0;
      while (Date.now() < deadline) {
        served = await get(url, second, { Authorization: `Bearer ${TOKEN}` }).then((r) => r.status, (e: Error) => e.message);
        if (served === 200) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(served).toBe(200);
      // A broken pair is not taken: the renewed one is still served.
      writeFileSync(join(dir, 'tls.key'), 'not a key');
      await new Promise((r) => setTimeout(r, 200));
      expect((await get(url, second, { Authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('selfSignedCertificate', () => {
  it('makes an X.509 v3 server certificate for its names that OpenSSL reads and verifies', () => {
    const { cert, key } = selfSignedCertificate(['localhost', 'op-0', '127.0.0.1', '::1', 'fd00::1:2'], new Date('2030-01-01T00:00:00Z'));
    const x = new X509Certificate(cert);
    expect(x.subjectAltName).toBe('DNS:localhost, DNS:op-0, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:1:2');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new Date(x.validFrom).toISOString()).toBe('2029-12-31T23:00:00.000Z');
    expect(new Date(x.validTo).toISOString()).toBe('2031-01-01T00:00:00.000Z');
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const dir = mkdtempSync(join(tmpdir(), 'apisec-selfsigned-'));
    try {
      writeFileSync(join(dir, 'tls.crt'), cert);
      const text = execFileSync('openssl', ['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'], { encoding: 'utf8' });
      expect(text).toMatch(/Version: 3/);
      expect(text).toMatch(/Key Usage: critical\s+Digital Signature/);
      expect(text).toMatch(/CA:FALSE/);
      expect(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'tls.crt'), '-attime', '1893456000', join(dir, 'tls.crt')], { encoding: 'utf8' })).toContain('OK');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses GeneralizedTime from 2050 on', () => {
    const x = new X509Certificate(selfSignedCertificate(['localhost'], new Date('2060-06-01T00:00:00Z')).cert);
    expect(new Date(x.validTo).getUTCFullYear()).toBe(2061);
  });
});
