// npm run bench:guard: decisions per second and latency of the apisec guard alone, for bearer JWTs
// (RS256 and ES256) and an API key. The guard runs in its own process (this file with --serve), its
// policies and keys in memory (no API server, the JWKS served from memory), so one process is one core;
// the load comes from this process over keep-alive connections. Two loops per case, both bounded:
// closed-loop at a fixed concurrency (throughput), then paced at a fixed rate (latency under load).
// Prints figures and ratios; asserts nothing about time.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { pino } from 'pino';
import { ApiSecurityPolicySpec } from '../src/api/v1alpha1.ts';
import { FailureWindow } from '../src/guard/brute-force.ts';
import type { Keys, PolicyLookup } from '../src/guard/decide.ts';
import { JwksCache } from '../src/guard/jwks.ts';
import { keySetFromData } from '../src/guard/apikeys.ts';
import { guardMetrics } from '../src/guard/metrics.ts';
import { startGuardServer } from '../src/guard/server.ts';
import { TokenCache } from '../src/guard/token-cache.ts';

const ISS = 'https://id.example.com';
const API_KEY = 'bench-key-000000000000000000000001';
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const RATE = Number(process.env.RATE ?? 2000);
const PACED_SECONDS = Number(process.env.PACED_SECONDS ?? 5);

const rules = { defaultAction: 'Deny' as const, rules: [{ methods: ['GET' as const], paths: ['/v1/*'], requireScopes: ['orders:read'] }] };
const spec = (authentication: unknown, withScopes = true): ApiSecurityPolicySpec =>
  ApiSecurityPolicySpec.parse({ targetRefs: [{ group: '', kind: 'Service', name: 'x' }], authentication, authorization: withScopes ? rules : { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } });

async function serve(): Promise<void> {
  const jwks = JSON.parse(process.env.BENCH_JWKS ?? '{}') as { keys: JWK[] };
  const cache = new JwksCache(async () => jwks);
  // BENCH_NO_TOKEN_CACHE=1 measures a signature check on every request.
  const verified = process.env.BENCH_NO_TOKEN_CACHE === '1' ? undefined : new TokenCache();
  const policies: Record<string, ApiSecurityPolicySpec> = {
    rs: spec({ jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, audiences: ['orders'] } }),
    es: spec({ jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, audiences: ['orders'] } }),
    key: spec({ apiKey: { header: 'X-API-Key', secretRef: { name: 'k' } } }, false),
  };
  const apiKeys = keySetFromData(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`client-${i}`, Buffer.from(i === 7 ? API_KEY : `other-key-${i}-000000000000000000`).toString('base64')])));
  const server = await startGuardServer({
    host: '127.0.0.1',
    port: 0,
    log: pino({ level: 'silent' }),
    metrics: guardMetrics(),
    failures: new FailureWindow(),
    source: {
      lookup: (ns, name): PolicyLookup => (policies[name] ? { state: 'ready', policy: { namespace: ns, name, spec: policies[name] } } : { state: 'unknown' }),
      keysFor: (_ns, s): Keys => (s.authentication?.apiKey ? { apiKeys } : { jwt: cache.resolver({ jwksURI: `${ISS}/jwks` }), jwtSource: `${ISS}/jwks`, ...(verified ? { verified } : {}) }),
    },
  });
  process.stdout.write(`${server.port}\n`);
}

interface Result {
  count: number;
  seconds: number;
  p50: number;
  p99: number;
  statuses: Record<number, number>;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function once(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; ms: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', reject);
    req.end();
  });
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

function summarise(lat: number[], statuses: Record<number, number>, seconds: number): Result {
  const s = [...lat].sort((a, b) => a - b);
  return { count: lat.length, seconds, p50: quantile(s, 0.5), p99: quantile(s, 0.99), statuses };
}

async function closedLoop(port: number, path: string, headers: Record<string, string>): Promise<Result> {
  const lat: number[] = [];
  const statuses: Record<number, number> = {};
  let sent = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (sent < REQUESTS) {
        sent++;
        const r = await once(port, path, headers);
        lat.push(r.ms);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }
    }),
  );
  return summarise(lat, statuses, Number(process.hrtime.bigint() - t0) / 1e9);
}

async function paced(port: number, path: string, headers: Record<string, string>): Promise<Result> {
  const lat: number[] = [];
  const statuses: Record<number, number> = {};
  const total = RATE * PACED_SECONDS;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      once(port, path, headers).then((r) => {
        lat.push(r.ms);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }),
    );
  }
  await Promise.all(pending);
  return summarise(lat, statuses, (performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rs', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'es', alg: 'ES256' }] };
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const claims = { iss: ISS, aud: 'orders', sub: 'bench', scope: 'orders:read', exp };
  const rsToken = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'rs' }).sign(rsa.privateKey);
  const esToken = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'es' }).sign(ec.privateKey);

  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim())));
    child.once('exit', (code) => reject(new Error(`guard exited ${code}`)));
  });
  const forward = (uri: string): Record<string, string> => ({ 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': uri });
  const cases: [string, string, Record<string, string>][] = [
    ['JWT RS256', '/check/bench/rs', { ...forward('/v1/orders/1'), Authorization: `Bearer ${rsToken}` }],
    ['JWT ES256', '/check/bench/es', { ...forward('/v1/orders/1'), Authorization: `Bearer ${esToken}` }],
    ['API key (50 clients)', '/check/bench/key', { ...forward('/v1/orders/1'), 'X-API-Key': API_KEY }],
  ];
  console.log(`guard alone, one process; closed loop: ${REQUESTS} requests at concurrency ${CONCURRENCY}; paced: ${RATE}/s for ${PACED_SECONDS}s`);
  const rows: { name: string; closed: Result; paced: Result }[] = [];
  try {
    for (const [name, path, headers] of cases) {
      await closedLoop(port, path, headers); // warm-up: JIT, key import, connections
      rows.push({ name, closed: await closedLoop(port, path, headers), paced: await paced(port, path, headers) });
    }
  } finally {
    child.kill('SIGTERM');
    agent.destroy();
  }
  const f = (n: number, d = 2): string => n.toFixed(d);
  for (const r of rows) {
    const rps = r.closed.count / r.closed.seconds;
    console.log(
      `${r.name.padEnd(22)} ${f(rps, 0).padStart(7)} decisions/s (closed loop p50 ${f(r.closed.p50)} ms, p99 ${f(r.closed.p99)} ms) | at ${RATE}/s: p50 ${f(r.paced.p50)} ms, p99 ${f(r.paced.p99)} ms | statuses ${JSON.stringify(r.closed.statuses)}`,
    );
  }
  const base = rows[2]!.closed.count / rows[2]!.closed.seconds;
  console.log(`ratios to the API key: ${rows.map((r) => `${r.name} ${f(r.closed.count / r.closed.seconds / base)}`).join(', ')}`);
}

if (process.argv.includes('--serve')) await serve();
else await main();
