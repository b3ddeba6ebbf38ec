// Global rate limits (rateLimit.scope: Global), proven by real traffic: one real redis-server (Debian's
// package, started here on 127.0.0.1) shared by two real Traefik instances that serve the same Ingress
// (the operator renders rateLimit.redis from its --rate-limit-store), and by two apisec guards (their
// check requests as Traefik's forwardAuth sends them). One client's requests spread over both replicas
// are accepted up to the one global budget, not twice it; another client has its own; with the store
// stopped the declared onStoreUnavailable holds (and shows in the guard's metrics); with it back,
// counting resumes. Every loop is bounded; nothing here asserts on time.
import { parseSpec, type ApiSecurityPolicySpecInput } from '../../src/api/v1alpha1.ts';
import type { RunningGuard } from '../../src/guard/main.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { LABEL_API_KEYS } from '../../src/render/labels.ts';
import { ANNOTATION_MIDDLEWARES } from '../../src/render/traefik.ts';
import { defaultSettings } from '../../src/render/types.ts';
import { guardCheckURL } from '../../src/render/delegation.ts';
import { renderSidecarConfigMap, sidecarFidelity } from '../../src/render/sidecar-nginx.ts';
import { freePort } from '../support/controlplane.ts';
import { httpRequest, nginxTest, startNginx, type RunningNginx } from '../support/nginx.ts';
import { grantGuardRbac, startTestGuard } from '../support/guard.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, installCrds, policyCondition, reconciledPolicy } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';
import { startRedis, type RunningRedis } from '../support/redis.ts';
import { call, installTraefikCrds, loopbackService, startEchoUpstream, startTraefik, waitForRouters, type LocalServer, type RunningTraefik } from '../support/traefik.ts';

const HOST = 'global.example.test';
const LOCAL_HOST = 'local.example.test';
const BURST = 40;
const REQUESTS = 100;
// 6 per minute: over the few seconds a run takes, the refill adds at most a request or two to the burst.
const LIMIT = { requestsPerMinute: 6, burst: BURST, scope: 'Global' } as const;
const KEY = 'global-limit-test-key-0000000001';
const KEY_2 = 'global-limit-test-key-0000000002';
const WINDOW = 30;

/** Accepted counts of every run, printed at the end (the issue's accuracy figures). */
const runs: string[] = [];

/** Sends `n` requests for one client, alternating between the replicas; returns the statuses. */
async function spread(n: number, send: (replica: number, i: number) => Promise<number>, replicas = 2): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push(await send(i % replicas, i));
  return statuses;
}

const count = (statuses: number[], status: number): number => statuses.filter((s) => s === status).length;

describe('global rate limits on one Redis, real traffic', () => {
  let admin: KubeClient;
  let ns: string;
  let redis: RunningRedis;
  let upstream: LocalServer;
  const traefiks: RunningTraefik[] = [];
  const guards: RunningGuard[] = [];
  let operator: RunningOperator | undefined;
  const sidecars: RunningNginx[] = [];

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await installTraefikCrds(admin);
    ns = await createNamespace(admin, 'global-rl');
    redis = await startRedis();
    upstream = await startEchoUpstream();
    for (let i = 0; i < 2; i++) traefiks.push(await startTraefik(controlPlane(), { namespaces: [ns] }));
    await grantOperatorRbac(admin);
    operator = await startOperator({ namespace: ns, settings: { ...defaultSettings, rateLimitStore: { endpoint: redis.endpoint, credentials: false } } });
    await grantGuardRbac(admin);
    for (let i = 0; i < 2; i++) guards.push(await startTestGuard({ namespaces: [ns], rateLimitStore: { endpoint: redis.endpoint } }));
    await apply(admin, loopbackService(ns, 'api', upstream.port), 'apisec-test', 'Strict');
  }, 60 * 60_000);

  afterAll(async () => {
    if (runs.length) console.log(`Global rate limit, accepted of ${REQUESTS} requests per client over two replicas (burst ${BURST}, 6/min):\n${runs.map((r) => `  ${r}`).join('\n')}`);
    await operator?.stop();
    for (const n of sidecars) await n.stop();
    for (const g of guards) await g.stop();
    for (const t of traefiks) await t.stop();
    await upstream?.close();
    await redis?.close();
  });

  it.each([
    ['a store named in the policy (the store is the platform\'s)', { requestsPerSecond: 1, scope: 'Global', store: { endpoint: 'tenant-redis.evil:6379' } }, /field not declared in schema|unknown field/],
    ['onStoreUnavailable on a Local limit', { requestsPerSecond: 1, onStoreUnavailable: 'Allow' }, /onStoreUnavailable applies to scope Global/],
    ['key Subject on a Local limit', { requestsPerSecond: 1, key: 'Subject' }, /key Subject .* needs scope Global/],
    ['windows on a Local limit', { requestsPerSecond: 1, windows: [{ requests: 10, period: 'Day' }] }, /windows .* need scope Global/],
  ])('the API server refuses %s', async (_name, rateLimit, message) => {
    const bad = { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { name: 'refused', namespace: ns }, spec: { targetRefs: [{ group: '', kind: 'Service', name: 'api' }], rateLimit } };
    await expect(apply(admin, bad, 'apisec-test', 'Strict')).rejects.toThrow(message);
  });

  describe('two Traefik instances (rateLimit.redis)', () => {
    const via = (replica: number, from: string): Promise<number> => call({ port: traefiks[replica]!.web, host: HOST, localAddress: from }).then((r) => r.status);

    /** An Ingress for `host` and a policy on it; resolves once both Traefiks route it through the operator's chain. */
    async function enforced(name: string, host: string, spec: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): Promise<void> {
      await apply(admin, {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name, namespace: ns },
        spec: { ingressClassName: 'traefik', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: upstream.port } } } }] } }] },
      }, 'apisec-test', 'Strict');
      await apply(admin, { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { name, namespace: ns }, spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name }], ...spec } });
      const ing = await eventually(async () => {
        const i = await admin.request<KubeObject>('GET', `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/${name}`, { verb: 'get' });
        expect(i.metadata.annotations?.[ANNOTATION_MIDDLEWARES]).toBeDefined();
        return i;
      }, 30_000);
      const chain = (ing.metadata.annotations?.[ANNOTATION_MIDDLEWARES] ?? '').split(',');
      for (const t of traefiks) await waitForRouters(t, host, chain);
    }

    beforeAll(async () => {
      await enforced('api', HOST, { provider: 'traefik', rateLimit: LIMIT });
      await enforced('local', LOCAL_HOST, { provider: 'traefik', rateLimit: { ...LIMIT, scope: 'Local' } });
    }, 5 * 60_000);

    it('control: the same limit with scope Local grants each instance its own budget (so the runs below can tell)', async () => {
      const statuses = await spread(REQUESTS, (r) => call({ port: traefiks[r]!.web, host: LOCAL_HOST, localAddress: '127.0.0.39' }).then((x) => x.status));
      runs.push(`Traefik, scope Local (control): ${count(statuses, 200)} accepted`);
      expect(count(statuses, 200)).toBeGreaterThanOrEqual(2 * BURST);
    });

    it('the status says the limit is counted globally, in the store (Exact, Pass)', async () => {
      const p = await reconciledPolicy<KubeObject & { status?: { observedGeneration?: number; controls?: { control: string; result: string; fidelity?: string; message: string }[] } }>(admin, ns, 'api', (x) => {
        expect(x.status?.controls?.find((c) => c.control === 'RateLimit')).toMatchObject({ result: 'Pass', fidelity: 'Exact' });
      });
      const mw = await admin.request<{ items: { spec: { rateLimit?: { redis?: { endpoints: string[] } } } }[] }>('GET', `/apis/traefik.io/v1alpha1/namespaces/${ns}/middlewares`, { verb: 'list' });
      expect(mw.items.map((m) => m.spec.rateLimit?.redis).filter(Boolean)).toEqual([{ endpoints: [redis.endpoint] }]);
      expect(p.status?.controls?.find((c) => c.control === 'RateLimit')?.message).toBeDefined();
    });

    it.each([1, 2, 3])('run %i: one client over both instances gets the one budget (within 10%), another client its own', async (run) => {
      const client = `127.0.0.${40 + run * 2}`;
      const statuses = await spread(REQUESTS, (r) => via(r, client));
      const accepted = count(statuses, 200);
      runs.push(`Traefik run ${run}: ${accepted} accepted, ${count(statuses, 429)} answered 429 (limit ${BURST}; two local budgets would be ${2 * BURST})`);
      expect(accepted + count(statuses, 429)).toBe(REQUESTS);
      expect(accepted).toBeGreaterThanOrEqual(BURST);
      expect(accepted).toBeLessThanOrEqual(Math.floor(BURST * 1.1));
      // Another client address: a separate budget, on either instance.
      expect(await via(0, `127.0.0.${41 + run * 2}`)).toBe(200);
      expect(await via(1, `127.0.0.${41 + run * 2}`)).toBe(200);
    });

    it('store stopped: Traefik refuses (onStoreUnavailable Deny, the default); store back: counting resumes', async () => {
      await redis.stop();
      try {
        const down = await spread(4, (r) => via(r, '127.0.0.60'));
        // Traefik fails closed with 500 ("Could not insert/update bucket"), as the fidelity note says.
        expect(down).toEqual([500, 500, 500, 500]);
      } finally {
        await redis.start();
      }
      // The store is back, empty: Traefik reconnects, a new client gets its budget and then 429.
      await eventually(async () => expect(await via(0, '127.0.0.61')).toBe(200), 30_000, 500);
      const statuses = await spread(REQUESTS, (r) => via(r, '127.0.0.62'));
      expect(count(statuses, 200)).toBeGreaterThanOrEqual(BURST);
      expect(count(statuses, 200)).toBeLessThanOrEqual(Math.floor(BURST * 1.1));
    });
  });

  describe('two apisec guards', () => {
    /** One check request as Traefik's forwardAuth sends it, from `client`, to guard `replica`. */
    const check = async (replica: number, policy: string, client: string, key = KEY): Promise<Response> =>
      fetch(`http://127.0.0.1:${guards[replica]!.port}/check/${ns}/${policy}`, { headers: { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/v1/x', 'X-Forwarded-For': client, 'X-API-Key': key } });
    const status = (replica: number, policy: string, client: string): Promise<number> => check(replica, policy, client).then((r) => r.status);
    const metric = async (pattern: RegExp): Promise<number> => {
      let sum = 0;
      for (const g of guards) {
        const text = await (await fetch(`http://127.0.0.1:${g.metricsPort}/metrics`)).text();
        for (const line of text.split('\n')) if (pattern.test(line)) sum += Number(line.split(' ').pop());
      }
      return sum;
    };

    beforeAll(async () => {
      await apply(admin, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'keys', namespace: ns, labels: { [LABEL_API_KEYS]: 'true' } }, data: { frontend: Buffer.from(KEY).toString('base64'), backend: Buffer.from(KEY_2).toString('base64') } } as KubeObject);
      const policy = (name: string, onStoreUnavailable: 'Allow' | 'Deny', key: 'ClientIP' | 'Subject' = 'ClientIP'): Promise<KubeObject> =>
        apply(admin, {
          apiVersion: 'apisec.dev/v1alpha1',
          kind: 'ApiSecurityPolicy',
          metadata: { name, namespace: ns },
          spec: { targetRefs: [{ group: '', kind: 'Service', name }], authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'keys' } } }, rateLimit: { ...LIMIT, onStoreUnavailable, key } },
        });
      await policy('open', 'Allow');
      await policy('closed', 'Deny');
      await policy('per-client', 'Deny', 'Subject');
      // A rate that never binds, and a window of 30 per minute that does.
      await apply(admin, {
        apiVersion: 'apisec.dev/v1alpha1',
        kind: 'ApiSecurityPolicy',
        metadata: { name: 'windowed', namespace: ns },
        spec: { targetRefs: [{ group: '', kind: 'Service', name: 'windowed' }], authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'keys' } } }, rateLimit: { requestsPerSecond: 1000, scope: 'Global', windows: [{ requests: WINDOW, period: 'Minute' }] } },
      });
      for (const g of guards) for (const name of ['open', 'closed', 'per-client', 'windowed']) await eventually(async () => expect(g.state.lookup(ns, name).state).toBe('ready'));
      // Both guards connected to the store: until then the Deny policy answers 503 (and the Allow one would pass uncounted).
      for (const g of [0, 1]) await eventually(async () => expect(await status(g, 'closed', `192.0.2.${1 + g}`)).toBe(200), 30_000);
    });

    it.each([1, 2, 3])('run %i: one client over both guards gets the one budget; 429 with Retry-After and RateLimit-*; another client its own', async (run) => {
      const client = `192.0.2.${10 + run * 2}`;
      const statuses = await spread(REQUESTS, (r) => status(r, 'open', client));
      const accepted = count(statuses, 200);
      runs.push(`guard run ${run}: ${accepted} accepted, ${count(statuses, 429)} answered 429 (limit ${BURST}; two local budgets would be ${2 * BURST})`);
      expect(accepted + count(statuses, 429)).toBe(REQUESTS);
      expect(accepted).toBeGreaterThanOrEqual(BURST);
      expect(accepted).toBeLessThanOrEqual(Math.floor(BURST * 1.1));
      const limited = await check(1, 'open', client);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(limited.headers.get('ratelimit-limit')).toBe(String(BURST));
      expect(limited.headers.get('ratelimit-remaining')).toBe('0');
      expect(await limited.json()).toMatchObject({ allow: false, reason: 'RateLimited' });
      expect(await status(0, 'open', `192.0.2.${11 + run * 2}`)).toBe(200);
    });

    it('key Subject: one API-key client from changing addresses over both guards gets the one budget; another client its own', async () => {
      const statuses = await spread(REQUESTS, (r, i) => check(r, 'per-client', `192.0.2.${50 + (i % 4)}`, KEY).then((x) => x.status));
      runs.push(`guard, key Subject: ${count(statuses, 200)} accepted, ${count(statuses, 429)} answered 429 (limit ${BURST}, from 4 addresses)`);
      expect(count(statuses, 200) + count(statuses, 429)).toBe(REQUESTS);
      expect(count(statuses, 200)).toBeGreaterThanOrEqual(BURST);
      expect(count(statuses, 200)).toBeLessThanOrEqual(Math.floor(BURST * 1.1));
      // The other client, from the same address: its own budget; a forged identity header changes nothing.
      expect((await check(0, 'per-client', '192.0.2.50', KEY_2)).status).toBe(200);
      const forged = await fetch(`http://127.0.0.1:${guards[1]!.port}/check/${ns}/per-client`, { headers: { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/v1/x', 'X-Forwarded-For': '192.0.2.59', 'X-API-Key': KEY, 'X-Auth-Subject': 'backend' } });
      expect(forged.status).toBe(429);
    });

    it.each([1, 2])('windows, run %i: 30 per minute over both guards holds beside a rate that does not bind', async (run) => {
      const client = `192.0.2.${70 + run}`;
      const statuses = await spread(REQUESTS, (r) => status(r, 'windowed', client));
      runs.push(`guard, window ${WINDOW}/min, run ${run}: ${count(statuses, 200)} accepted, ${count(statuses, 429)} answered 429`);
      expect(count(statuses, 200) + count(statuses, 429)).toBe(REQUESTS);
      expect(count(statuses, 200)).toBeGreaterThanOrEqual(WINDOW);
      expect(count(statuses, 200)).toBeLessThanOrEqual(Math.floor(WINDOW * 1.1));
      const limited = await check(0, 'windowed', client);
      expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    });

    it("through two sidecars (nginx auth_request, one per guard): one client gets the one budget, the guard's 429 and 503 reach it as the guard answered", async () => {
      const name = 'through-nginx';
      const ports = [await freePort(), await freePort()];
      const created = await apply(admin, {
        apiVersion: 'apisec.dev/v1alpha1',
        kind: 'ApiSecurityPolicy',
        metadata: { name, namespace: ns },
        spec: { targetRefs: [{ group: '', kind: 'Service', name }], authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'keys' } } }, rateLimit: { ...LIMIT, onStoreUnavailable: 'Deny' }, sidecar: { port: ports[0]!, appPort: upstream.port } },
      });
      const parsed = parseSpec(created.spec);
      if (!parsed.ok) throw new Error(parsed.message);
      for (const g of guards) await eventually(async () => expect(g.state.lookup(ns, name).state).toBe('ready'));
      const store = { endpoint: redis.endpoint, credentials: false };
      for (const [i, g] of guards.entries()) {
        // Each replica's sidecar asks its own guard; the two guards share the store.
        const spec = { ...parsed.spec, sidecar: { ...parsed.spec.sidecar!, port: ports[i]! } };
        const cm = renderSidecarConfigMap({ name, namespace: ns, uid: created.metadata.uid ?? '' }, spec, { guard: guardCheckURL(`http://127.0.0.1:${g.port}`, { namespace: ns, name }), trusted: [], store });
        const conf = cm?.data['nginx.conf'] ?? '';
        const t = nginxTest(conf);
        if (!t.ok) throw new Error(`nginx -t refused the generated config:\n${t.output}\n${conf}`);
        sidecars.push(await startNginx(conf, ports[i]!));
        expect(sidecarFidelity(spec, { guard: 'http://apisec-guard.apisec-system.svc:8080/check/a/b', trusted: [], store }).RateLimit).toMatchObject({ fidelity: 'Exact' });
      }
      const send = (replica: number, localAddress: string) => httpRequest({ port: ports[replica]!, path: '/v1/x', headers: { 'X-API-Key': KEY }, localAddress });
      // 60 requests: 30 per sidecar stay within each one's own per-pod burst, so every 429 is the guard's global one.
      const n = Math.round(1.5 * BURST);
      const statuses = await spread(n, (r) => send(r, '127.0.0.77').then((x) => x.status));
      const accepted = count(statuses, 200);
      runs.push(`two sidecars (nginx → guard): ${accepted} of ${n} accepted, ${count(statuses, 429)} answered 429 (limit ${BURST}; two local budgets would be ${2 * BURST})`);
      expect(accepted + count(statuses, 429)).toBe(n);
      expect(accepted).toBeGreaterThanOrEqual(BURST);
      expect(accepted).toBeLessThanOrEqual(Math.floor(BURST * 1.1));
      const limited = await send(1, '127.0.0.77');
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(limited.headers['ratelimit-limit']).toBe(String(BURST));
      expect(limited.headers['ratelimit-remaining']).toBe('0');
      // Another client has its own budget.
      expect((await send(0, '127.0.0.78')).status).toBe(200);
      // The store down and the policy Deny: the guard's 503 reaches the client through nginx, not a 500.
      await redis.stop();
      try {
        const refused = await send(1, '127.0.0.79');
        expect(refused.status).toBe(503);
        expect(refused.headers['retry-after']).toBe('1');
      } finally {
        await redis.start();
      }
      await eventually(async () => expect((await send(0, '127.0.0.80')).status).toBe(200), 30_000, 500);
      await eventually(async () => expect((await send(1, '127.0.0.80')).status).toBe(200), 30_000, 500);
    });

    it('a wrong key counts too (brute force spends the budget)', async () => {
      const wrong = await spread(BURST, (r) => check(r, 'open', '192.0.2.30', 'not-the-key-000000000000000000').then((x) => x.status));
      expect(count(wrong, 401)).toBe(BURST);
      expect(await status(0, 'open', '192.0.2.30')).toBe(429);
    });

    it('store stopped: Allow lets requests through uncounted, Deny answers 503; both in the metrics; store back: counting resumes', async () => {
      const errorsBefore = await metric(/^apisec_guard_rate_limit_store_errors_total /);
      await redis.stop();
      try {
        expect(await spread(4, (r) => status(r, 'open', '192.0.2.40'))).toEqual([200, 200, 200, 200]);
        const closed = await check(0, 'closed', '192.0.2.40');
        expect(closed.status).toBe(503);
        expect(await closed.json()).toMatchObject({ reason: 'RateLimitStoreUnavailable' });
        expect(await metric(/^apisec_guard_rate_limit_total\{.*policy="[^"]*\/open".*result="store_unavailable_allowed"/)).toBeGreaterThanOrEqual(4);
        expect(await metric(/^apisec_guard_rate_limit_total\{.*policy="[^"]*\/closed".*result="store_unavailable_denied"/)).toBeGreaterThanOrEqual(1);
        expect(await metric(/^apisec_guard_rate_limit_store_errors_total /)).toBeGreaterThanOrEqual(errorsBefore + 5);
        expect(await metric(/^apisec_guard_rate_limit_store_up /)).toBe(0);
        // The guards' Events reach the policies' status through the operator.
        for (const [name, says] of [['open', 'pass uncounted'], ['closed', 'are refused (503)']] as const) {
          await eventually(async () => {
            const p = await admin.request<KubeObject>('GET', `/apis/apisec.dev/v1alpha1/namespaces/${ns}/apisecuritypolicies/${name}`, { verb: 'get' });
            expect(policyCondition(p as Parameters<typeof policyCondition>[0], 'RateLimitStoreUnavailable')).toMatchObject({ status: 'True', reason: 'GuardReported', message: expect.stringContaining(says) });
          }, 30_000);
        }
      } finally {
        await redis.start();
      }
      await eventually(async () => expect(await status(0, 'closed', '192.0.2.41')).toBe(200), 30_000, 500);
      const statuses = await spread(REQUESTS, (r) => status(r, 'closed', '192.0.2.42'));
      expect(count(statuses, 200)).toBeGreaterThanOrEqual(BURST);
      expect(count(statuses, 200)).toBeLessThanOrEqual(Math.floor(BURST * 1.1));
      expect(await metric(/^apisec_guard_rate_limit_store_up /)).toBe(2);
    });
  });
});
