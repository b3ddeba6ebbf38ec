// The apisec guard, proven by real traffic: policies accepted by the real API server, the guard reading
// them (and a labelled API-key Secret) with its own identity and RBAC, tokens from an OpenID provider we
// did not write (oauth2-mock-server over https), a real nginx running the generated sidecar config and
// a real Traefik running the generated forwardAuth Middleware, a loopback upstream behind both.
import { parseSpec, type ApiSecurityPolicySpecInput } from '../../src/api/v1alpha1.ts';
import { LABEL_API_KEYS } from '../../src/guard/apikeys.ts';
import type { RunningGuard } from '../../src/guard/main.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { guardCheckURL } from '../../src/render/delegation.ts';
import { ANNOTATION_POLICY } from '../../src/render/labels.ts';
import { renderSidecarConfigMap } from '../../src/render/sidecar-nginx.ts';
import { ANNOTATION_MIDDLEWARES, renderTraefik } from '../../src/render/traefik.ts';
import { freePort } from '../support/controlplane.ts';
import { ORDERS_RULES as RULES } from '../support/guard-fixtures.ts';
import { grantGuardRbac, startIdp, startTestGuard, type TestIdp } from '../support/guard.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, installCrds } from '../support/kube.ts';
import { httpRequest, nginxTest, startNginx, type RunningNginx } from '../support/nginx.ts';
import { call, installTraefikCrds, loopbackService, startEchoUpstream, startTraefik, waitForRouters, type LocalServer, type Reply, type RunningTraefik } from '../support/traefik.ts';

const AUD = 'orders-api';
const KEY_A = 'frontend-key-0000000000000001';
const KEY_B = 'frontend-key-0000000000000002';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

const seen: string[] = [];
const record = (what: string, r: { status: number }): number => (seen.push(`${String(r.status).padEnd(4)} ${what}`), r.status);

describe('apisec guard under real traffic', () => {
  let admin: KubeClient;
  let ns: string;
  let idp: TestIdp;
  let guard: RunningGuard;
  let upstream: LocalServer;
  let nginx: RunningNginx;
  let keysNginx: RunningNginx;
  let traefik: RunningTraefik;
  let sidecarPort: number;
  let keysPort: number;
  const guardLog: string[] = [];

  const policy = async (name: string, spec: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): Promise<{ uid: string; spec: ReturnType<typeof parseSpec> }> => {
    const created = await apply(admin, { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { name, namespace: ns }, spec: { targetRefs: [{ group: '', kind: 'Service', name }], ...spec } });
    return { uid: created.metadata.uid ?? '', spec: parseSpec(created.spec) };
  };

  async function sidecar(name: string, spec: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): Promise<{ nginx: RunningNginx; port: number }> {
    const port = await freePort();
    const p = await policy(name, { ...spec, sidecar: { port, appPort: upstream.port } });
    if (!p.spec.ok) throw new Error(p.spec.message);
    const cm = renderSidecarConfigMap({ name, namespace: ns, uid: p.uid }, p.spec.spec, { guard: guardCheckURL(`http://127.0.0.1:${guard.port}`, { namespace: ns, name }), trusted: [] });
    if (!cm) throw new Error('no sidecar ConfigMap');
    await apply(admin, cm as unknown as KubeObject, 'api-security-operator', 'Strict');
    const conf = cm.data['nginx.conf'] ?? '';
    const t = nginxTest(conf);
    if (!t.ok) throw new Error(`nginx -t refused the generated config:\n${t.output}\n${conf}`);
    return { nginx: await startNginx(conf, port), port };
  }

  /** A token from the provider for alice with scope orders:read, `claims` set over those. */
  const token = (claims: Record<string, unknown> = {}, opts: { kid?: string; expiresIn?: number } = {}): Promise<string> =>
    idp.token({ aud: AUD, sub: 'alice', scope: 'orders:read', ...claims }, opts);

  const viaSidecar = (method: string, path: string, headers: Record<string, string> = {}) => httpRequest({ port: sidecarPort, method, path, headers });
  const bearer = (t: string): Record<string, string> => ({ Authorization: `Bearer ${t}` });

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await installTraefikCrds(admin);
    ns = await createNamespace(admin, 'guard');
    await grantGuardRbac(admin);
    idp = await startIdp();
    upstream = await startEchoUpstream();
    guard = await startTestGuard({ caFile: idp.caFile, jwksCooldownMs: 1000, failureThreshold: 5, namespaces: [ns] }, guardLog);
    await apply(admin, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'orders-keys', namespace: ns, labels: { [LABEL_API_KEYS]: 'true' } }, data: { frontend: b64(KEY_A) } } as KubeObject);
    ({ nginx, port: sidecarPort } = await sidecar('orders', { authentication: { jwt: { issuer: idp.url, jwksURI: `${idp.url}/jwks`, audiences: [AUD], claimHeaders: [{ claim: 'email', header: 'X-Auth-Email' }] } }, authorization: RULES }));
    ({ nginx: keysNginx, port: keysPort } = await sidecar('keys', { authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'orders-keys' } } }, authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } }));
    await eventually(async () => expect(guard.state.lookup(ns, 'keys').state).toBe('ready'));
  }, 10 * 60_000);

  afterAll(async () => {
    console.log(`guard: status seen per request:\n${seen.map((s) => `  ${s}`).join('\n')}`);
    await traefik?.stop();
    await nginx?.stop();
    await keysNginx?.stop();
    await guard?.stop();
    await upstream?.close();
    await idp?.stop();
  });

  describe('JWT through the nginx sidecar', () => {
    it('lets a valid token through on an allowed method and path; the upstream sees the identity, not what the client claimed', async () => {
      const before = upstream.seen.length;
      const r = await viaSidecar('GET', '/v1/orders/7', { ...bearer(await token({ email: 'alice@example.com' })), 'X-Auth-Subject': 'mallory', 'X-Auth-Email': 'mallory@example.com' });
      expect(record('valid token GET /v1/orders/7', r)).toBe(200);
      const got = upstream.seen.slice(before);
      expect(got).toHaveLength(1);
      expect(got[0]?.headers['x-auth-subject']).toBe('alice');
      expect(got[0]?.headers['x-auth-scopes']).toBe('orders:read');
      expect(got[0]?.headers['x-auth-email']).toBe('alice@example.com');
      // A token without the claim: the client's own X-Auth-Email is dropped, not passed on.
      await viaSidecar('GET', '/v1/orders/7', { ...bearer(await token()), 'X-Auth-Email': 'mallory@example.com' });
      expect(upstream.seen[upstream.seen.length - 1]?.headers['x-auth-email']).toBeUndefined();
    });

    it.each<[string, () => Promise<Record<string, string>>, string]>([
      ['no token', async () => ({}), ''],
      ['bad signature', async () => {
        const [h, p, s] = (await token()).split('.');
        return bearer(`${h}.${p}.${(s ?? '').slice(0, -4)}AAAA`);
      }, 'signature'],
      ['expired', async () => bearer(await token({}, { expiresIn: -3600 })), 'expired'],
      ['wrong audience', async () => bearer(await token({ aud: 'billing-api' })), 'aud'],
      ['wrong issuer', async () => bearer(await token({ iss: 'https://evil.example.com' })), 'iss'],
      ['alg none', async () => {
        const [, p] = (await token()).split('.');
        return bearer(`${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`);
      }, ''],
    ])('%s → 401 with a Bearer challenge, and the upstream never sees it', async (what, headers, description) => {
      const before = upstream.seen.length;
      const r = await viaSidecar('GET', '/v1/orders/7', await headers());
      expect(record(what, r)).toBe(401);
      const challenge = String(r.headers['www-authenticate'] ?? '');
      expect(challenge).toMatch(/^Bearer realm="guard-[a-z0-9-]+\/orders"/);
      if (what !== 'no token') expect(challenge).toContain('error="invalid_token"');
      else expect(challenge).not.toContain('error=');
      if (description) expect(challenge).toContain(description);
      expect(upstream.seen.length).toBe(before);
    });

    it.each<[string, string, string, string]>([
      ['method not allowed', 'DELETE', '/v1/orders/7', 'orders:read orders:write'],
      ['missing scope', 'POST', '/v1/orders', 'orders:read'],
      ['outside every rule (default Deny)', 'GET', '/v1/admin', 'orders:read orders:write'],
      ['traversal toward a denied path', 'GET', '/v1/orders/../admin', 'orders:read'],
      ['encoded traversal', 'GET', '/v1/orders/%2e%2e/%2e%2e/admin', 'orders:read'],
    ])('%s → 403 insufficient_scope', async (what, method, path, scope) => {
      const before = upstream.seen.length;
      const r = await viaSidecar(method, path, bearer(await token({ scope })));
      expect(record(`${what}: ${method} ${path}`, r)).toBe(403);
      expect(String(r.headers['www-authenticate'] ?? '')).toContain('error="insufficient_scope"');
      expect(upstream.seen.length).toBe(before);
    });

    it('allows the declared anonymous path without a token, and only that method', async () => {
      expect(record('anonymous GET /healthz', await viaSidecar('GET', '/healthz'))).toBe(200);
      expect(record('anonymous rule, POST /healthz', await viaSidecar('POST', '/healthz'))).toBe(401);
    });

    it('accepts a key rotated at the provider (new kid) without a restart', async () => {
      const fetches = async (): Promise<number> => {
        const text = await (await fetch(`http://127.0.0.1:${guard.metricsPort}/metrics`)).text();
        return Number(/apisec_guard_jwks_fetches_total\{outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
      };
      const before = await fetches();
      const kid = await idp.rotate();
      const fresh = await token({}, { kid });
      // The cached JWKS lacks the new kid: the guard fetches again (at most once per cooldown).
      await eventually(async () => expect((await viaSidecar('GET', '/v1/orders/1', bearer(fresh))).status).toBe(200), 15_000, 300);
      record('token signed by a key rotated in at the provider', { status: 200 });
      expect(await fetches()).toBeGreaterThan(before);
    });

    it('logs one JSON line per denial with policy, client and reason, and never the token', async () => {
      const t = await token({ aud: 'nope' });
      const before = guardLog.length;
      await viaSidecar('GET', '/v1/orders/1', bearer(t));
      const lines = guardLog.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'Denied request');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ policy: `${ns}/orders`, client: '127.0.0.1', reason: 'InvalidToken', status: 401 });
      expect(guardLog.slice(before).join('\n')).not.toContain(t.split('.')[2]);
    });
  });

  describe('API keys through the nginx sidecar', () => {
    const viaKeys = (headers: Record<string, string> = {}, path = '/v1/items') => httpRequest({ port: keysPort, method: 'GET', path, headers });

    it('missing → 401, wrong → 401, right → 200 with the client id upstream', async () => {
      expect(record('API key missing', await viaKeys())).toBe(401);
      expect(record('API key wrong', await viaKeys({ 'X-API-Key': 'not-the-key-of-anyone-000' }))).toBe(401);
      const before = upstream.seen.length;
      expect(record('API key right', await viaKeys({ 'X-API-Key': KEY_A }))).toBe(200);
      expect(upstream.seen[before]?.headers['x-auth-client']).toBe('frontend');
      expect(record('API key right, path outside the rules', await viaKeys({ 'X-API-Key': KEY_A }, '/admin'))).toBe(403);
    });

    it('a rotated Secret takes effect without a restart: old key 401, new key 200', async () => {
      await apply(admin, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'orders-keys', namespace: ns, labels: { [LABEL_API_KEYS]: 'true' } }, data: { frontend: b64(KEY_B) } } as KubeObject);
      await eventually(async () => expect((await viaKeys({ 'X-API-Key': KEY_B })).status).toBe(200), 15_000, 200);
      expect(record('API key after rotation: old', await viaKeys({ 'X-API-Key': KEY_A }))).toBe(401);
      expect(record('API key after rotation: new', await viaKeys({ 'X-API-Key': KEY_B }))).toBe(200);
    });

    it('repeated failures from one client raise a SuspiciousActivity Warning Event on the policy', async () => {
      for (let i = 0; i < 6; i++) await viaKeys({ 'X-API-Key': `guess-number-${i}-0000000000` });
      await eventually(async () => {
        const list = await admin.request<{ items: { reason?: string; type?: string; regarding?: { name?: string }; note?: string }[] }>('GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`, { verb: 'list' });
        const ev = list.items.find((e) => e.reason === 'SuspiciousActivity' && e.regarding?.name === 'keys');
        expect(ev).toMatchObject({ type: 'Warning' });
        expect(ev?.note).toContain('127.0.0.1');
      });
    });
  });

  describe('Traefik forwardAuth', () => {
    const HOST = 'oidc.example.test';
    const KEYS_HOST = 'keys.example.test';
    const viaTraefik = (host: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> => call({ port: traefik.web, host, method, path, headers });

    beforeAll(async () => {
      traefik = await startTraefik(controlPlane(), { namespaces: [ns] });
      await apply(admin, loopbackService(ns, 'api', upstream.port), 'apisec-test', 'Strict');
      const guardURL = `http://127.0.0.1:${guard.port}`;
      const ingress = async (name: string, host: string, spec: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): Promise<void> => {
        const created = await apply(admin, { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { name, namespace: ns }, spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name }], ...spec } });
        const parsed = parseSpec(created.spec);
        if (!parsed.ok) throw new Error(parsed.message);
        const out = renderTraefik({ name, namespace: ns, uid: created.metadata.uid ?? '' }, parsed.spec, name, { guard: guardCheckURL(guardURL, { namespace: ns, name }), trusted: [] });
        expect(out.fidelity.Authentication?.fidelity).toBe('Exact');
        for (const mw of out.middlewares) await apply(admin, mw as unknown as KubeObject, 'api-security-operator', 'Strict');
        await apply(admin, {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name, namespace: ns, annotations: { ...out.annotations, [ANNOTATION_POLICY]: name } },
          spec: { ingressClassName: 'traefik', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: upstream.port } } } }] } }] },
        }, 'apisec-test', 'Strict');
        await waitForRouters(traefik, host, (out.annotations[ANNOTATION_MIDDLEWARES] ?? '').split(','));
      };
      await ingress('oidc', HOST, { authentication: { oidc: { issuerURL: idp.url, audiences: [AUD] } }, authorization: RULES });
      await ingress('keys-traefik', KEYS_HOST, { authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'orders-keys' } } } });
      await eventually(async () => expect(guard.state.lookup(ns, 'keys-traefik').state).toBe('ready'));
    }, 10 * 60_000);

    it('OIDC (keys from the discovery document): valid → 200 with identity upstream, each bad token → 401, rules → 403', async () => {
      const before = upstream.seen.length;
      const ok = await viaTraefik(HOST, 'GET', '/v1/orders/1', { ...bearer(await token()), 'X-Original-URL': 'https://x/healthz', 'X-Original-Method': 'GET' });
      expect(record('Traefik: valid token', ok)).toBe(200);
      expect(upstream.seen[before]?.headers['x-auth-subject']).toBe('alice');
      expect(record('Traefik: no token', await viaTraefik(HOST, 'GET', '/v1/orders/1'))).toBe(401);
      expect(record('Traefik: expired', await viaTraefik(HOST, 'GET', '/v1/orders/1', bearer(await token({}, { expiresIn: -3600 }))))).toBe(401);
      expect(record('Traefik: wrong audience', await viaTraefik(HOST, 'GET', '/v1/orders/1', bearer(await token({ aud: 'x' }))))).toBe(401);
      expect(record('Traefik: missing scope', await viaTraefik(HOST, 'POST', '/v1/orders', bearer(await token())))).toBe(403);
      expect(record('Traefik: traversal', await viaTraefik(HOST, 'GET', '/v1/orders/../admin', bearer(await token())))).toBe(403);
      // A forged X-Original-URL naming the anonymous path does not reach the guard (authRequestHeaders).
      expect(record('Traefik: forged X-Original-URL, no token', await viaTraefik(HOST, 'GET', '/v1/orders/1', { 'X-Original-URL': 'https://x/healthz', 'X-Original-Method': 'GET' }))).toBe(401);
      expect(record('Traefik: anonymous path', await viaTraefik(HOST, 'GET', '/healthz'))).toBe(200);
    });

    it('API key: missing 401, wrong 401, right 200', async () => {
      expect(record('Traefik: API key missing', await viaTraefik(KEYS_HOST, 'GET', '/x'))).toBe(401);
      expect(record('Traefik: API key wrong', await viaTraefik(KEYS_HOST, 'GET', '/x', { 'X-API-Key': 'wrong-key-00000000000000' }))).toBe(401);
      expect(record('Traefik: API key right', await viaTraefik(KEYS_HOST, 'GET', '/x', { 'X-API-Key': KEY_B }))).toBe(200);
    });

    it('an unknown policy is denied (fail closed)', async () => {
      const r = await fetch(`http://127.0.0.1:${guard.port}/check/${ns}/no-such-policy`, { headers: { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/' } });
      expect(r.status).toBe(403);
      expect(await r.json()).toMatchObject({ allow: false, reason: 'UnknownPolicy' });
    });

    it('exposes decisions by policy, result and reason on /metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${guard.metricsPort}/metrics`)).text();
      expect(text).toMatch(new RegExp(`apisec_guard_decisions_total\\{policy="${ns}/orders",result="allow",reason="RuleAllowed"\\} [1-9]`));
      expect(text).toMatch(/apisec_guard_decisions_total\{policy="",result="deny",reason="UnknownPolicy"\} 1/);
      expect(text).toContain('apisec_guard_decision_duration_seconds_bucket');
      expect(text).toMatch(/apisec_guard_suspicious_clients_total\{policy="[^"]+\/keys"\} 1/);
    });

    it('a stopped guard refuses every request, on both data planes', async () => {
      const t = await token();
      await guard.stop();
      const before = upstream.seen.length;
      const s = await viaSidecar('GET', '/v1/orders/1', bearer(t));
      const tr = await viaTraefik(HOST, 'GET', '/v1/orders/1', bearer(t));
      record('guard stopped: sidecar', s);
      record('guard stopped: Traefik', tr);
      expect(s.status).toBeGreaterThanOrEqual(500);
      expect(tr.status).toBeGreaterThanOrEqual(500);
      expect(upstream.seen.length).toBe(before);
    });
  });
});
