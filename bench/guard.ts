// npm run bench:guard: decisions per second and latency of the apisec guard alone, for bearer JWTs
// (RS256 and ES256) and an API key. The guard runs in its own process (this file with --serve), its
// policies and keys in memory (no API server, the JWKS served from memory), so one process is one core;
// the load comes from this process over keep-alive connections. Two loops per case, both bounded:
// closed-loop at a fixed concurrency (throughput), then paced at a fixed rate (latency under load).
// Then, where nginx is installed (npm run prepare:test), requests/s through the generated nginx sidecar
// in front of a loopback upstream (its own process), without auth and with the guard (API key), at the
// same concurrency. Where redis-server is installed, the API key case again with a Global rate limit
// counted in a local redis-server (one Lua script per decision): decisions/s with and without the counter
// and the p99 it adds at the paced rate. Prints figures and ratios; asserts nothing about time.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { pino } from 'pino';
import { ApiSecurityPolicySpec } from '../src/api/v1alpha1.ts';
import { FailureWindow } from '../src/guard/brute-force.ts';
import { decide, type Keys, type PolicyLookup } from '../src/guard/decide.ts';
import { JwksCache } from '../src/guard/jwks.ts';
import { keySetFromData } from '../src/guard/apikeys.ts';
import { guardMetrics } from '../src/guard/metrics.ts';
import { startGuardServer } from '../src/guard/server.ts';
import { redisCounter } from '../src/guard/store.ts';
import { guardCheckURL } from '../src/render/delegation.ts';
import { renderSidecarNginxConf } from '../src/render/sidecar-nginx.ts';
import { freePort } from '../test/support/controlplane.ts';
import { startNginx } from '../test/support/nginx.ts';
import { startRedis, type RunningRedis } from '../test/support/redis.ts';
import { findNginx, findRedisServer } from '../test/tools/prepare.ts';
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
    // A limit no request reaches, so every decision is counted and allowed.
    'key-global': { ...spec({ apiKey: { header: 'X-API-Key', secretRef: { name: 'k' } } }, false), rateLimit: { requestsPerSecond: 100000, burst: 1000000, key: 'ClientIP', scope: 'Global' } },
  };
  const store = process.env.BENCH_REDIS;
  const apiKeys = keySetFromData(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`client-${i}`, Buffer.from(i === 7 ? API_KEY : `other-key-${i}-000000000000000000`).toString('base64')])));
  const server = await startGuardServer({
    host: '127.0.0.1',
    port: 0,
    log: pino({ level: 'silent' }),
    metrics: guardMetrics(),
    failures: new FailureWindow(),
    counter: store ? redisCounter({ endpoint: store }, pino({ level: 'silent' })) : undefined,
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

async function upstream(): Promise<void> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
}

function child(mode: string, env: NodeJS.ProcessEnv = {}): Promise<{ port: number; kill(): void }> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), mode], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.stdout.once('data', (c: Buffer) => resolve({ port: Number(c.toString().trim()), kill: () => proc.kill('SIGTERM') }));
    proc.once('exit', (code) => reject(new Error(`${mode} exited ${code}`)));
  });
}

/** Requests/s through the sidecar without auth and with the guard; undefined without nginx. */
async function sidecar(guardPort: number): Promise<string | undefined> {
  if (!findNginx()) return undefined;
  const app = await child('--upstream');
  const policy = { name: 'key', namespace: 'bench', uid: 'u' };
  const base = { targetRefs: [{ group: '', kind: 'Service', name: 'x' }], logging: { accessLog: false } };
  const rows: string[] = [];
  const rates: number[] = [];
  try {
    for (const [name, auth] of [['sidecar, no auth', false], ['sidecar + guard (API key)', true]] as const) {
      const port = await freePort();
      const spec = ApiSecurityPolicySpec.parse({ ...base, sidecar: { port, appPort: app.port }, ...(auth ? { authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'k' } } }, authorization: rules } : {}) });
      const nginx = await startNginx(renderSidecarNginxConf(policy, spec, { guard: guardCheckURL(`http://127.0.0.1:${guardPort}`, policy), trusted: [] }), port);
      try {
        await closedLoop(port, '/v1/orders/1', { 'X-API-Key': API_KEY });
        const r = await closedLoop(port, '/v1/orders/1', { 'X-API-Key': API_KEY });
        const rps = r.count / r.seconds;
        rates.push(rps);
        rows.push(`${name.padEnd(26)} ${rps.toFixed(0).padStart(7)} requests/s (p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms) | statuses ${JSON.stringify(r.statuses)}`);
      } finally {
        await nginx.stop();
      }
    }
  } finally {
    app.kill();
  }
  return `${rows.join('\n')}\nwith the guard / without: ${((rates[1] ?? 0) / (rates[0] ?? 1)).toFixed(2)}`;
}

/** CPU time of decide() alone, in this process (no HTTP): µs of CPU per decision, with and without the token cache. */
async function cpuPerDecision(jwks: { keys: JWK[] }, tokens: Record<string, string>): Promise<string> {
  const N = Number(process.env.DECISIONS ?? 5000);
  const lookup = (s: ApiSecurityPolicySpec): PolicyLookup => ({ state: 'ready', policy: { namespace: 'bench', name: 'p', spec: s } });
  const jwt = spec({ jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, audiences: ['orders'] } });
  const cache = new JwksCache(async () => jwks);
  const apiKeys = keySetFromData(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`client-${i}`, Buffer.from(i === 7 ? API_KEY : `other-key-${i}-000000000000000000`).toString('base64')])));
  const out: string[] = [];
  const runs: [string, PolicyLookup, Record<string, string>, () => Keys][] = [
    ['RS256, verified each time', lookup(jwt), { authorization: `Bearer ${tokens.rs}` }, () => ({ jwt: cache.resolver({ jwksURI: `${ISS}/jwks` }) })],
    ['ES256, verified each time', lookup(jwt), { authorization: `Bearer ${tokens.es}` }, () => ({ jwt: cache.resolver({ jwksURI: `${ISS}/jwks` }) })],
    ['RS256, token cache', lookup(jwt), { authorization: `Bearer ${tokens.rs}` }, ((v) => () => ({ jwt: cache.resolver({ jwksURI: `${ISS}/jwks` }), jwtSource: 'j', verified: v }))(new TokenCache())],
    ['API key (50 clients)', lookup(spec({ apiKey: { header: 'X-API-Key', secretRef: { name: 'k' } } }, false)), { 'x-api-key': API_KEY }, () => ({ apiKeys })],
  ];
  for (const [name, l, h, keys] of runs) {
    const request = { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/v1/orders/1', ...h } };
    for (let i = 0; i < 200; i++) await decide(l, request, keys(), new Date()); // warm-up
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const d = await decide(l, request, keys(), new Date());
      if (!d.allow) throw new Error(`${name}: ${d.reason}`);
    }
    const cpu = process.cpuUsage(t0);
    out.push(`  ${name.padEnd(26)} ${((cpu.user + cpu.system) / N).toFixed(1).padStart(7)} µs CPU per decision`);
  }
  return `decide() alone, ${N} decisions each (CPU time, so less sensitive to other load than the rates above):\n${out.join('\n')}`;
}

/** One count at a time against the store, in this process: the round trip a decision waits for when nothing queues. */
async function storeRoundTrip(endpoint: string): Promise<string> {
  const N = Number(process.env.DECISIONS ?? 5000);
  const counter = redisCounter({ endpoint }, pino({ level: 'silent' }));
  const p = { intervalUs: 10, burst: 1_000_000 };
  const lat: number[] = [];
  try {
    // Warm-up: the connection (a count before it is up fails, as in the guard), then the script.
    for (let i = 0, ok = 0; ok < 200 && i < 1000; i++) ok += await counter.take('apisec:bench', p).then(() => 1, async () => (await new Promise((r) => setTimeout(r, 10)), 0));
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const a = performance.now();
      await counter.take('apisec:bench', p);
      lat.push(performance.now() - a);
    }
    const cpu = process.cpuUsage(t0);
    const s = lat.sort((a, b) => a - b);
    return `store round trip, one count in flight, ${N} counts: p50 ${quantile(s, 0.5).toFixed(3)} ms, p99 ${quantile(s, 0.99).toFixed(3)} ms, ${((cpu.user + cpu.system) / N).toFixed(1)} µs CPU per count in the guard's process`;
  } finally {
    await counter.close();
  }
}

async function main(): Promise<void> {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rs', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'es', alg: 'ES256' }] };
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const claims = { iss: ISS, aud: 'orders', sub: 'bench', scope: 'orders:read', exp };
  const rsToken = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'rs' }).sign(rsa.privateKey);
  const esToken = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'es' }).sign(ec.privateKey);

  const redis: RunningRedis | undefined = findRedisServer() ? await startRedis() : undefined;
  const guard = await child('--serve', { BENCH_JWKS: JSON.stringify(jwks), ...(redis ? { BENCH_REDIS: redis.endpoint } : {}) });
  const port = guard.port;
  const forward = (uri: string): Record<string, string> => ({ 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': uri });
  const cases: [string, string, Record<string, string>][] = [
    ['JWT RS256', '/check/bench/rs', { ...forward('/v1/orders/1'), Authorization: `Bearer ${rsToken}` }],
    ['JWT ES256', '/check/bench/es', { ...forward('/v1/orders/1'), Authorization: `Bearer ${esToken}` }],
    ['API key (50 clients)', '/check/bench/key', { ...forward('/v1/orders/1'), 'X-API-Key': API_KEY }],
    ...(redis ? [['API key + global limit', '/check/bench/key-global', { ...forward('/v1/orders/1'), 'X-API-Key': API_KEY }] as [string, string, Record<string, string>]] : []),
  ];
  console.log(`guard alone, one process; closed loop: ${REQUESTS} requests at concurrency ${CONCURRENCY}; paced: ${RATE}/s for ${PACED_SECONDS}s`);
  const rows: { name: string; closed: Result; paced: Result }[] = [];
  let throughSidecar: string | undefined;
  try {
    for (const [name, path, headers] of cases) {
      await closedLoop(port, path, headers); // warm-up: JIT, key import, connections
      rows.push({ name, closed: await closedLoop(port, path, headers), paced: await paced(port, path, headers) });
    }
    throughSidecar = await sidecar(port);
    if (redis) console.log(await storeRoundTrip(redis.endpoint));
  } finally {
    guard.kill();
    agent.destroy();
    await redis?.close();
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
  const counted = rows[3];
  if (counted) {
    const plain = rows[2]!;
    console.log(
      `global limit (Redis counter) / none: ${f(counted.closed.count / counted.closed.seconds / base)} of the decisions/s; added p99: closed loop ${f(counted.closed.p99 - plain.closed.p99)} ms, at ${RATE}/s ${f(counted.paced.p99 - plain.paced.p99)} ms (goal ≤ 1 ms on loopback)`,
    );
  } else console.log('global limit: redis-server not found (npm run prepare:test, or REDIS_SERVER), skipped');
  console.log(throughSidecar ?? 'sidecar: nginx not found (npm run prepare:test), skipped');
  console.log(await cpuPerDecision(jwks, { rs: rsToken, es: esToken }));
}

if (process.argv.includes('--serve')) await serve();
else if (process.argv.includes('--upstream')) await upstream();
else await main();
