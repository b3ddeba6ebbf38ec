// The Traefik provider, proven by real traffic: a real Traefik v3 (built from Go modules) watches the
// real API server with Traefik's upstream CRDs installed; the Middlewares and the Ingress annotation
// come from renderTraefik for real ApiSecurityPolicies; real HTTP(S) requests go through Traefik to a
// local upstream and a local auth endpoint. Each test acts from its own loopback source address
// (127.0.0.0/8), so per-client limits do not leak between tests.
// Until the reconciler renders Traefik, the test applies the renderer's output itself.
import { parseSpec, type ApiSecurityPolicySpecInput } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { ANNOTATION_POLICY } from '../../src/render/labels.ts';
import { ANNOTATION_MIDDLEWARES, renderTraefik, type TraefikMiddleware, type TraefikRender } from '../../src/render/traefik.ts';
import { defaultSettings } from '../../src/render/types.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';
import {
  call,
  installTraefikCrds,
  loopbackService,
  nonLoopbackSockets,
  startAuthServer,
  startEchoUpstream,
  startTraefik,
  StatusLog,
  waitForRouters,
  type Call,
  type LocalServer,
  type Reply,
  type RunningTraefik,
  type TraefikRouter,
} from '../support/traefik.ts';

const KEY = 'let-me-in';
const SHOP = 'shop.example.test';
const PARTNER = 'partner.example.test';
const ORIGIN = 'https://shop.example.com';

const log = new StatusLog();
const record = (control: string, request: string, r: Reply): Reply => log.record(control, request, r);

describe('Traefik data plane, real traffic', () => {
  let admin: KubeClient;
  let ns: string;
  let traefik: RunningTraefik;
  let upstream: LocalServer;
  let auth: LocalServer;
  let shop: TraefikRender;
  let partner: TraefikRender;
  let operator: RunningOperator | undefined;

  /** Creates the policy (for its uid) and renders it. */
  async function renderPolicy(name: string, spec: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): Promise<TraefikRender> {
    const input = { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name }], ...spec };
    const created = await apply(admin, { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { name, namespace: ns }, spec: input });
    const parsed = parseSpec(created.spec);
    if (!parsed.ok) throw new Error(parsed.message);
    return renderTraefik({ name, namespace: ns, uid: created.metadata.uid ?? '' }, parsed.spec, name);
  }

  const applyMiddlewares = async (out: TraefikRender): Promise<void> => {
    for (const mw of out.middlewares) await apply(admin, mw as unknown as KubeObject, 'api-security-operator', 'Strict');
  };

  /** The Ingress of class traefik for one host, carrying the rendered annotations. */
  const applyIngress = (name: string, host: string, out: TraefikRender): Promise<KubeObject> =>
    apply(
      admin,
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name, namespace: ns, ...(Object.keys(out.annotations).length ? { annotations: { ...out.annotations, [ANNOTATION_POLICY]: name } } : {}) },
        spec: {
          ingressClassName: 'traefik',
          // No secretName: Traefik serves the host with its default certificate.
          tls: [{ hosts: [host] }],
          rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: upstream.port } } } }] } }],
        },
      },
      'apisec-test',
      'Strict',
    );

  const chainOf = (out: TraefikRender): string[] => (out.annotations[ANNOTATION_MIDDLEWARES] ?? '').split(',').filter(Boolean);

  /**
   * The operator enforces the policy: it applies the Middlewares, then annotates the Ingress. Returns the
   * renderer's output for the expectations, after checking the operator wrote exactly that chain.
   */
  async function enforce(name: string, host: string, spec: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): Promise<TraefikRender> {
    await applyIngress(name, host, { annotations: {}, middlewares: [], fidelity: {} });
    const out = await renderPolicy(name, spec);
    await eventually(async () => {
      const ing = await admin.request<KubeObject>('GET', `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/${name}`, { verb: 'get' });
      expect(ing.metadata.annotations?.[ANNOTATION_MIDDLEWARES]).toBe(out.annotations[ANNOTATION_MIDDLEWARES]);
    }, 30_000);
    await waitForRouters(traefik, host, chainOf(out));
    return out;
  }

  const https = (c: Omit<Call, 'port' | 'tls'>): Promise<Reply> => call({ ...c, port: traefik.websecure, tls: true });
  const http = (c: Omit<Call, 'port' | 'tls'>): Promise<Reply> => call({ ...c, port: traefik.web });
  const withKey = { 'X-Api-Key': KEY };

  // The first run on a machine builds Traefik (test/traefik/build.sh): the timeout allows a cold build.
  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await installTraefikCrds(admin);
    ns = await createNamespace(admin, 'traefik');
    upstream = await startEchoUpstream();
    auth = await startAuthServer('X-Api-Key', KEY);
    traefik = await startTraefik(controlPlane(), { namespaces: [ns] });
    // The operator, as its own identity, with Traefik's CRDs served (found by discovery at start).
    await grantOperatorRbac(admin);
    // The auth endpoint listens on loopback: allowed by the operator's allow-list, as a platform would.
    operator = await startOperator({ namespace: ns, settings: { ...defaultSettings, authHosts: ['127.0.0.1'] } });
    await apply(admin, loopbackService(ns, 'api', upstream.port), 'apisec-test', 'Strict');
    const authURL = `http://127.0.0.1:${auth.port}/check`;
    shop = await enforce('shop', SHOP, {
      tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000, includeSubDomains: true } },
      authentication: { apiKey: { header: 'X-Api-Key', authURL } },
      rateLimit: { requestsPerMinute: 60, burst: 10, maxConnections: 2 },
      ipAccess: { allow: ['127.0.0.0/8'] },
      cors: { allowOrigins: [ORIGIN], allowMethods: ['GET', 'POST'], allowHeaders: ['X-Api-Key', 'Content-Type'] },
      requestLimits: { maxBodySize: '1Ki' },
      logging: { accessLog: true },
    });
    partner = await enforce('partner', PARTNER, {
      ipAccess: { allow: ['127.0.0.2/32'] },
      authentication: { external: { authURL, responseHeaders: ['X-User'] } },
      logging: { accessLog: false },
    });
  }, 60 * 60_000);

  afterAll(async () => {
    log.print('Traefik control → status code seen');
    await operator?.stop();
    await traefik?.stop();
    await upstream?.close();
    await auth?.close();
  });

  it('renders the whole chain, in order, for the full policy (each router of the host carries it: see enforce)', () => {
    // Names are apisec-<policy>-<control>-<hash of namespace, policy UID, control>.
    const control = (policy: string) => (m: TraefikMiddleware): string => m.metadata.name.replace(`apisec-${policy}-`, '').replace(/-[0-9a-f]{10}$/, '');
    expect(shop.middlewares.map(control('shop'))).toEqual([
      'redirect',
      'ipallowlist',
      'ratelimit',
      'inflightreq',
      'buffering',
      'headers',
      'forwardauth',
    ]);
    expect(partner.middlewares.map(control('partner'))).toEqual(['ipallowlist', 'forwardauth']);
  });

  it('redirects plain HTTP to HTTPS: 301 for GET, 308 for other methods, query kept', async () => {
    const get = record('HTTPSOnly (redirect)', 'GET http://…/v1/items?page=2', await http({ host: SHOP, path: '/v1/items?page=2', localAddress: '127.0.0.11' }));
    expect(get.status).toBe(301);
    expect(get.headers.location).toBe(`https://${SHOP}/v1/items?page=2`);
    const post = record('HTTPSOnly (redirect)', 'POST http://…/v1/items', await http({ host: SHOP, method: 'POST', path: '/v1/items', body: '{}', localAddress: '127.0.0.11' }));
    expect(post.status).toBe(308);
    expect(post.headers.location).toBe(`https://${SHOP}/v1/items`);
    expect(get.headers['strict-transport-security']).toBeUndefined();
  });

  it('serves HTTPS with HSTS', async () => {
    const r = record('HTTPSOnly (HSTS)', 'GET https://… with key', await https({ host: SHOP, path: '/v1/items', headers: withKey, localAddress: '127.0.0.12' }));
    expect(r.status).toBe(200);
    expect(r.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(JSON.parse(r.body)).toMatchObject({ method: 'GET', url: '/v1/items' });
  });

  it('forwardAuth: 401 without a key, 403 with a wrong one, 200 with the right one', async () => {
    const none = record('Authentication (forwardAuth)', 'GET without key', await https({ host: SHOP, localAddress: '127.0.0.13' }));
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('ApiKey');
    const wrong = record('Authentication (forwardAuth)', 'GET with a wrong key', await https({ host: SHOP, headers: { 'X-Api-Key': 'guess' }, localAddress: '127.0.0.13' }));
    expect(wrong.status).toBe(403);
    const ok = record('Authentication (forwardAuth)', 'GET with the key', await https({ host: SHOP, headers: withKey, localAddress: '127.0.0.13' }));
    expect(ok.status).toBe(200);
    // The auth endpoint saw the original request's method and path.
    expect(auth.seen.at(-1)?.headers['x-forwarded-method']).toBe('GET');
  });

  it('copies authResponseHeaders from the auth endpoint to the upstream request', async () => {
    const r = record('Authentication (authResponseHeaders)', 'GET from an allowed address', await https({ host: PARTNER, headers: withKey, localAddress: '127.0.0.2' }));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ user: 'alice' });
  });

  it('ipAllowList: 403 for an address outside the list, before the auth endpoint is asked', async () => {
    const asked = auth.seen.length;
    const r = record('IPAccess (ipAllowList)', 'GET from 127.0.0.1 (allow 127.0.0.2/32)', await https({ host: PARTNER, headers: withKey, localAddress: '127.0.0.1' }));
    expect(r.status).toBe(403);
    expect(auth.seen.length).toBe(asked);
    const plain = record('IPAccess (ipAllowList)', 'GET http:// from 127.0.0.1', await http({ host: PARTNER, headers: withKey, localAddress: '127.0.0.1' }));
    expect(plain.status).toBe(403);
  });

  it('buffering: 413 above maxBodySize, and the upstream never sees that body', async () => {
    const small = record('RequestLimits (buffering)', 'POST 1000 bytes (limit 1Ki)', await https({ host: SHOP, method: 'POST', body: 'a'.repeat(1000), headers: withKey, localAddress: '127.0.0.14' }));
    expect(small.status).toBe(200);
    expect(JSON.parse(small.body)).toMatchObject({ method: 'POST', bytes: 1000 });
    const before = upstream.seen.length;
    const big = record('RequestLimits (buffering)', 'POST 2048 bytes (limit 1Ki)', await https({ host: SHOP, method: 'POST', body: 'a'.repeat(2048), headers: withKey, localAddress: '127.0.0.14' }));
    expect(big.status).toBe(413);
    expect(upstream.seen.length).toBe(before);
  });

  it('CORS: headers only for the allowed origin; preflights answered before forwardAuth', async () => {
    const from = '127.0.0.15';
    const allowed = record('CORS', `GET Origin ${ORIGIN}`, await https({ host: SHOP, headers: { ...withKey, Origin: ORIGIN }, localAddress: from }));
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(allowed.headers.vary).toContain('Origin');

    const other = record('CORS', 'GET Origin https://evil.example.net', await https({ host: SHOP, headers: { ...withKey, Origin: 'https://evil.example.net' }, localAddress: from }));
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();

    // Browsers send preflights without credentials: they must not reach forwardAuth.
    const preflight = record(
      'CORS (preflight)',
      `OPTIONS Origin ${ORIGIN}, no key`,
      await https({ host: SHOP, method: 'OPTIONS', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST' }, localAddress: from }),
    );
    expect(preflight.status).toBe(200);
    expect(preflight.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(preflight.headers['access-control-allow-methods']).toBe('GET,POST');
    expect(preflight.headers['access-control-allow-headers']).toBe('X-Api-Key,Content-Type');
    expect(preflight.headers['access-control-max-age']).toBe('600');

    const badPreflight = record(
      'CORS (preflight)',
      'OPTIONS Origin https://evil.example.net, no key',
      await https({ host: SHOP, method: 'OPTIONS', headers: { Origin: 'https://evil.example.net', 'Access-Control-Request-Method': 'POST' }, localAddress: from }),
    );
    expect(badPreflight.headers['access-control-allow-origin']).toBeUndefined();

    // A rejection by the auth endpoint still carries CORS headers, so a browser app can read the 401.
    const unauth = record('CORS', `GET Origin ${ORIGIN}, no key`, await https({ host: SHOP, headers: { Origin: ORIGIN }, localAddress: from }));
    expect(unauth.status).toBe(401);
    expect(unauth.headers['access-control-allow-origin']).toBe(ORIGIN);
  });

  it('inFlightReq: 429 beyond maxConnections concurrent requests of one client', async () => {
    const replies = await Promise.all(
      [1, 2, 3, 4].map(() => https({ host: SHOP, path: '/slow', headers: withKey, localAddress: '127.0.0.16' })),
    );
    for (const r of replies) record('RateLimit (inFlightReq, max 2)', '4 concurrent slow GETs', r);
    const codes = replies.map((r) => r.status).sort();
    expect(codes).toEqual([200, 200, 429, 429]);
  });

  it('rateLimit: 429 beyond the burst, for one client only', async () => {
    // 60 requests a minute with a burst of 10: at most 3 × burst sequential requests. A request that
    // would wait up to half a token (0.5 s) is delayed rather than refused, so #11 or #12 may still pass.
    const codes: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await https({ host: SHOP, headers: withKey, localAddress: '127.0.0.17' });
      codes.push(r.status);
      if (r.status === 429) {
        record('RateLimit (rateLimit 60/min, burst 10)', `sequential GET #${i + 1}`, r);
        expect(r.headers['retry-after']).toBeDefined();
        break;
      }
    }
    const firstLimited = codes.indexOf(429);
    expect(firstLimited).toBeGreaterThanOrEqual(10);
    expect(codes.slice(0, firstLimited).every((c) => c === 200)).toBe(true);
    // Another client keeps its own bucket.
    const other = record('RateLimit (rateLimit 60/min, burst 10)', 'GET from another client', await https({ host: SHOP, headers: withKey, localAddress: '127.0.0.18' }));
    expect(other.status).toBe(200);
  });

  it('access logs: on for the router whose policy asks, off for the other', async () => {
    // Traefik writes each entry when the response is done; give the last one a moment.
    await new Promise((r) => setTimeout(r, 500));
    const entries = traefik.accessLog();
    const hosts = new Set(entries.map((e) => e.RequestHost));
    expect(hosts.has(SHOP)).toBe(true);
    expect(hosts.has(PARTNER)).toBe(false);
    const entry = entries.find((e) => e.RequestHost === SHOP && e.DownstreamStatus === 413);
    expect(entry).toMatchObject({ RequestMethod: 'POST', ClientHost: '127.0.0.14' });
  });

  it('every generated Middleware is stored by the API server exactly as rendered (upstream CRD, strict)', async () => {
    for (const mw of [...shop.middlewares, ...partner.middlewares]) {
      const stored = await admin.request<TraefikMiddleware>('GET', `/apis/traefik.io/v1alpha1/namespaces/${ns}/middlewares/${mw.metadata.name}`, { verb: 'get' });
      expect(stored.spec).toEqual(mw.spec);
      expect(stored.metadata.ownerReferences).toEqual(mw.metadata.ownerReferences);
    }
  });

  it('the renderer output for other shapes of policy is accepted too', async () => {
    const other = await createNamespace(admin, 'traefik-shapes');
    const shapes: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>[] = [
      { tls: { hsts: { maxAgeSeconds: 0, preload: true } }, cors: { allowOrigins: ['*'], maxAgeSeconds: 0 } },
      { cors: { allowOrigins: ['https://*.example.org:8443', 'http://a.example.com'], exposeHeaders: ['X-Request-Id'], allowCredentials: true } },
      { rateLimit: { requestsPerMinute: 30, key: 'Header', header: 'X-Client-Id', maxConnections: 65535 } },
      { rateLimit: { requestsPerSecond: 100000, burst: 1000000 }, requestLimits: { maxBodySize: '64Gi' }, ipAccess: { allow: ['0.0.0.0/0', '::/0'], deny: ['10.0.0.0/8'] } },
      { requestLimits: { maxBodySize: '1Gi' }, authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'https://auth.example.com/oauth2/auth', signinURL: 'https://auth.example.com/start' } } },
      { authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/jwks', authURL: 'http://jwt.auth:8080/v' } } },
    ];
    for (const [i, shape] of shapes.entries()) {
      const parsed = parseSpec({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'x' }], ...shape });
      if (!parsed.ok) throw new Error(parsed.message);
      // Every other shape behind trusted proxies (ipStrategy.excludedIPs), so those fields are checked too.
      const out = renderTraefik({ name: `shape-${i}`, namespace: other, uid: `00000000-0000-4000-8000-00000000000${i}` }, parsed.spec, 'x', { trusted: i % 2 ? ['10.0.0.0/8', 'fd00::/8'] : [] });
      expect(out.middlewares.length).toBeGreaterThan(0);
      for (const mw of out.middlewares) {
        const stored = await apply<TraefikMiddleware & KubeObject>(admin, mw as unknown as KubeObject, 'api-security-operator', 'Strict');
        expect(stored.spec).toEqual(mw.spec);
      }
    }
  });

  it('a router whose Middleware does not exist yet is not served at all (so: Middlewares before the annotation)', async () => {
    // Rendered for a policy that is not created, so the running operator leaves this Ingress alone.
    const host = 'late.example.test';
    const parsed = parseSpec({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'late' }], requestLimits: { maxBodySize: '1Ki' } });
    if (!parsed.ok) throw new Error(parsed.message);
    const rendered = renderTraefik({ name: 'late', namespace: ns, uid: '00000000-0000-4000-8000-00000000000f' }, parsed.spec, 'late');
    const out = { ...rendered, middlewares: rendered.middlewares.map((m) => ({ ...m, metadata: { ...m.metadata, labels: {}, ownerReferences: [] } })) };
    await applyIngress('late', host, out);
    await eventually(async () => {
      const routers = (await traefik.apiGet<TraefikRouter[]>('/api/http/routers')).filter((r) => r.rule.includes(host));
      expect(routers.length).toBeGreaterThanOrEqual(2);
      for (const r of routers) expect(r.error?.join(' ')).toContain('does not exist');
    }, 30_000);
    const missing = record('(Middleware missing)', 'GET while the annotation names a missing Middleware', await https({ host, localAddress: '127.0.0.19' }));
    expect(missing.status).toBe(404);
    await applyMiddlewares(out);
    await waitForRouters(traefik, host, chainOf(out));
    const served = record('(Middleware missing)', 'GET once the Middleware exists', await https({ host, localAddress: '127.0.0.19' }));
    expect(served.status).toBe(200);
  });

  it('Traefik never dialled anything but loopback', () => {
    const pid = traefik.pid();
    if (pid === undefined) return; // no /proc
    expect(nonLoopbackSockets(pid)).toEqual([]);
    const log = traefik.logTail(Infinity);
    expect(log).toContain('Version check is disabled');
    expect(log).toContain('Stats collection is disabled');
  });
});
