import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput, type ControlName } from '../api/v1alpha1.ts';
import { generatedName, LABEL_MANAGED_BY, LABEL_POLICY } from './labels.ts';
import {
  ANNOTATION_ACCESS_LOGS,
  ANNOTATION_MIDDLEWARES,
  MIDDLEWARE_ORDER,
  renderTraefik,
  traefikCrdRef,
  wildcardOriginRegex,
  type TraefikMiddlewareSpec,
} from './traefik.ts';
import type { Fidelity, PolicyRef } from './types.ts';
import { policySpec } from '../../test/support/builders.ts';

const POLICY: PolicyRef = { name: 'shop-api', namespace: 'shop', uid: '0b0e2c7e-1111-4222-8333-444455556666' };

type Fragment = Omit<ApiSecurityPolicySpecInput, 'targetRefs'>;

const spec = (fragment: Fragment): ApiSecurityPolicySpec => policySpec(fragment);

const render = (fragment: Fragment, policy: PolicyRef = POLICY): ReturnType<typeof renderTraefik> => renderTraefik(policy, spec(fragment), 'api');

interface Case {
  name: string;
  fragment: Fragment;
  /** Middleware specs by control (the name suffix), in chain order. */
  middlewares: Partial<Record<(typeof MIDDLEWARE_ORDER)[number], TraefikMiddlewareSpec>>;
  fidelity: Partial<Record<ControlName, Fidelity>>;
  /** Substrings expected in the reason of a control's fidelity note. */
  reasons?: Partial<Record<ControlName, string[]>>;
  /** Annotations other than router.middlewares. */
  annotations?: Record<string, string>;
}

const AUTH = 'http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth';
const IP = { ipStrategy: {} };

const cases: Case[] = [
  { name: 'empty spec', fragment: {}, middlewares: {}, fidelity: {} },

  // ---- HTTPS ----
  {
    name: 'httpsOnly without hsts',
    fragment: { tls: { httpsOnly: true } },
    middlewares: { redirect: { redirectScheme: { scheme: 'https', permanent: true } } },
    fidelity: { HTTPSOnly: 'Approximated' },
    reasons: { HTTPSOnly: ['301 to GET', '308'] },
  },
  {
    name: 'httpsOnly defaulted, with default hsts',
    fragment: { tls: { hsts: {} } },
    middlewares: { redirect: { redirectScheme: { scheme: 'https', permanent: true } }, headers: { headers: { stsSeconds: 31536000 } } },
    fidelity: { HTTPSOnly: 'Approximated' },
  },
  {
    name: 'hsts with subdomains and preload',
    fragment: { tls: { hsts: { maxAgeSeconds: 63072000, includeSubDomains: true, preload: true } } },
    middlewares: {
      redirect: { redirectScheme: { scheme: 'https', permanent: true } },
      headers: { headers: { stsSeconds: 63072000, stsIncludeSubdomains: true, stsPreload: true } },
    },
    fidelity: { HTTPSOnly: 'Approximated' },
  },
  {
    name: 'hsts max-age 0',
    fragment: { tls: { hsts: { maxAgeSeconds: 0 } } },
    middlewares: { redirect: { redirectScheme: { scheme: 'https', permanent: true } }, headers: { headers: { stsSeconds: 0 } } },
    fidelity: { HTTPSOnly: 'Approximated' },
    reasons: { HTTPSOnly: ['max-age=0 is not sent'] },
  },
  { name: 'httpsOnly false', fragment: { tls: { httpsOnly: false, hsts: {} } }, middlewares: {}, fidelity: {} },

  // ---- authentication ----
  {
    name: 'oidc with signinURL',
    fragment: { authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: AUTH, signinURL: 'https://auth.example.com/oauth2/start' } } },
    middlewares: { forwardauth: { forwardAuth: { address: AUTH, maxResponseBodySize: 65536 } } },
    fidelity: { Authentication: 'Delegated' },
    reasons: { Authentication: ['forwardAuth', 'signinURL'] },
  },
  {
    name: 'oidc without signinURL',
    fragment: { authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: AUTH } } },
    middlewares: { forwardauth: { forwardAuth: { address: AUTH, maxResponseBodySize: 65536 } } },
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'jwt',
    fragment: { authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/.well-known/jwks.json', authURL: 'http://jwt-validator.auth:8080/validate' } } },
    middlewares: { forwardauth: { forwardAuth: { address: 'http://jwt-validator.auth:8080/validate', maxResponseBodySize: 65536 } } },
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'apiKey',
    fragment: { authentication: { apiKey: { header: 'X-Api-Key', authURL: 'http://keys.auth/check' } } },
    middlewares: { forwardauth: { forwardAuth: { address: 'http://keys.auth/check', maxResponseBodySize: 65536 } } },
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'external with responseHeaders',
    fragment: { authentication: { external: { authURL: 'https://authz.example.com/check', responseHeaders: ['X-User', 'X-Scopes'] } } },
    middlewares: { forwardauth: { forwardAuth: { address: 'https://authz.example.com/check', authResponseHeaders: ['X-User', 'X-Scopes'], maxResponseBodySize: 65536 } } },
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'external with empty responseHeaders',
    fragment: { authentication: { external: { authURL: 'https://authz.example.com/check', responseHeaders: [] } } },
    middlewares: { forwardauth: { forwardAuth: { address: 'https://authz.example.com/check', maxResponseBodySize: 65536 } } },
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'mtls',
    fragment: { authentication: { mtls: { caSecretRef: 'client-ca', verifyDepth: 2, passCertificateToUpstream: true } } },
    middlewares: {},
    fidelity: { Authentication: 'Unsupported' },
    reasons: { Authentication: ['TLSOption', 'TLS handshake'] },
  },

  // ---- authorization ----
  {
    name: 'authorization without authentication',
    fragment: { authorization: { rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } },
    middlewares: {},
    fidelity: { Authorization: 'Unsupported' },
  },
  {
    name: 'authorization behind an auth endpoint',
    fragment: { authentication: { external: { authURL: AUTH } }, authorization: { rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } },
    middlewares: { forwardauth: { forwardAuth: { address: AUTH, maxResponseBodySize: 65536 } } },
    fidelity: { Authentication: 'Delegated', Authorization: 'Unsupported' },
    reasons: { Authorization: ['auth endpoint is not told'] },
  },
  {
    name: 'authorization with mtls (no auth endpoint)',
    fragment: { authentication: { mtls: { caSecretRef: 'ca' } }, authorization: { defaultAction: 'Deny' } },
    middlewares: {},
    fidelity: { Authentication: 'Unsupported', Authorization: 'Unsupported' },
  },

  // ---- rate limit ----
  {
    name: 'rps only: burst defaults to the rate',
    fragment: { rateLimit: { requestsPerSecond: 10 } },
    middlewares: { ratelimit: { rateLimit: { average: 10, period: '1s', burst: 10, sourceCriterion: IP } } },
    fidelity: { RateLimit: 'Approximated' },
    reasons: { RateLimit: ['per Traefik replica', 'bucket size'] },
  },
  {
    name: 'rpm only: burst defaults to the per-second rate',
    fragment: { rateLimit: { requestsPerMinute: 600 } },
    middlewares: { ratelimit: { rateLimit: { average: 600, period: '1m', burst: 10, sourceCriterion: IP } } },
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    name: 'rpm below one per second: burst at least 1',
    fragment: { rateLimit: { requestsPerMinute: 30 } },
    middlewares: { ratelimit: { rateLimit: { average: 30, period: '1m', burst: 1, sourceCriterion: IP } } },
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    name: 'rps with burst',
    fragment: { rateLimit: { requestsPerSecond: 20, burst: 45 } },
    middlewares: { ratelimit: { rateLimit: { average: 20, period: '1s', burst: 45, sourceCriterion: IP } } },
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    name: 'rpm with burst',
    fragment: { rateLimit: { requestsPerMinute: 60, burst: 150 } },
    middlewares: { ratelimit: { rateLimit: { average: 60, period: '1m', burst: 150, sourceCriterion: IP } } },
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    name: 'maxConnections by client address',
    fragment: { rateLimit: { requestsPerSecond: 5, maxConnections: 20 } },
    middlewares: {
      ratelimit: { rateLimit: { average: 5, period: '1s', burst: 5, sourceCriterion: IP } },
      inflightreq: { inFlightReq: { amount: 20, sourceCriterion: IP } },
    },
    fidelity: { RateLimit: 'Approximated' },
    reasons: { RateLimit: ['in-flight requests'] },
  },
  {
    name: 'maxConnections and key Header',
    fragment: { rateLimit: { requestsPerSecond: 5, maxConnections: 20, key: 'Header', header: 'X-Client-Id' } },
    middlewares: {
      ratelimit: { rateLimit: { average: 5, period: '1s', burst: 5, sourceCriterion: { requestHeaderName: 'X-Client-Id' } } },
      inflightreq: { inFlightReq: { amount: 20, sourceCriterion: { requestHeaderName: 'X-Client-Id' } } },
    },
    fidelity: { RateLimit: 'Approximated' },
    reasons: { RateLimit: ['without the header share one bucket'] },
  },

  // ---- ip access ----
  {
    name: 'ip allow only',
    fragment: { ipAccess: { allow: ['203.0.113.0/24', '2001:db8::/32'] } },
    middlewares: { ipallowlist: { ipAllowList: { sourceRange: ['203.0.113.0/24', '2001:db8::/32'] } } },
    fidelity: { IPAccess: 'Exact' },
  },
  {
    name: 'ip allow and deny',
    fragment: { ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16'] } },
    middlewares: { ipallowlist: { ipAllowList: { sourceRange: ['10.0.0.0/8'] } } },
    fidelity: { IPAccess: 'Approximated' },
    reasons: { IPAccess: ['no deny list', 'deny ranges'] },
  },
  {
    name: 'ip deny only',
    fragment: { ipAccess: { deny: ['10.1.0.0/16'] } },
    middlewares: {},
    fidelity: { IPAccess: 'Unsupported' },
    reasons: { IPAccess: ['no deny list'] },
  },

  // ---- cors ----
  {
    name: 'cors with defaults',
    fragment: { cors: { allowOrigins: ['https://shop.example.com'] } },
    middlewares: { headers: { headers: { accessControlAllowOriginList: ['https://shop.example.com'], accessControlMaxAge: 600, addVaryHeader: true } } },
    fidelity: { CORS: 'Exact' },
  },
  {
    name: 'cors wildcard origin: no Vary needed',
    fragment: { cors: { allowOrigins: ['*'], maxAgeSeconds: 0 } },
    middlewares: { headers: { headers: { accessControlAllowOriginList: ['*'], accessControlMaxAge: 0 } } },
    fidelity: { CORS: 'Exact' },
  },
  {
    name: 'cors with everything, and a wildcard subdomain',
    fragment: {
      cors: {
        allowOrigins: ['https://shop.example.com', 'https://*.example.org:8443'],
        allowMethods: ['GET', 'POST'],
        allowHeaders: ['Authorization', 'Content-Type'],
        exposeHeaders: ['X-Request-Id'],
        allowCredentials: true,
        maxAgeSeconds: 3600,
      },
    },
    middlewares: {
      headers: {
        headers: {
          accessControlAllowOriginList: ['https://shop.example.com'],
          accessControlAllowOriginListRegex: ['^https://[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.example\\.org:8443$'],
          accessControlAllowMethods: ['GET', 'POST'],
          accessControlAllowHeaders: ['Authorization', 'Content-Type'],
          accessControlExposeHeaders: ['X-Request-Id'],
          accessControlAllowCredentials: true,
          accessControlMaxAge: 3600,
          addVaryHeader: true,
        },
      },
    },
    fidelity: { CORS: 'Exact' },
  },
  {
    name: 'hsts and cors share one headers middleware',
    fragment: { tls: { hsts: { maxAgeSeconds: 600 } }, cors: { allowOrigins: ['https://a.example.com'] } },
    middlewares: {
      redirect: { redirectScheme: { scheme: 'https', permanent: true } },
      headers: { headers: { stsSeconds: 600, accessControlAllowOriginList: ['https://a.example.com'], accessControlMaxAge: 600, addVaryHeader: true } },
    },
    fidelity: { HTTPSOnly: 'Approximated', CORS: 'Exact' },
  },

  // ---- request limits ----
  {
    name: 'maxBodySize binary',
    fragment: { requestLimits: { maxBodySize: '1Mi' } },
    middlewares: { buffering: { buffering: { maxRequestBodyBytes: 1048576 } } },
    fidelity: { RequestLimits: 'Exact' },
    reasons: { RequestLimits: ['Buffering'] },
  },
  {
    name: 'maxBodySize decimal',
    fragment: { requestLimits: { maxBodySize: '10M' } },
    middlewares: { buffering: { buffering: { maxRequestBodyBytes: 10000000 } } },
    fidelity: { RequestLimits: 'Exact' },
  },
  {
    name: 'maxBodySize and allowedMethods',
    fragment: { requestLimits: { maxBodySize: '512Ki', allowedMethods: ['GET'] } },
    middlewares: { buffering: { buffering: { maxRequestBodyBytes: 524288 } } },
    fidelity: { RequestLimits: 'Approximated' },
    reasons: { RequestLimits: ['method allow-list'] },
  },
  {
    name: 'allow-lists without maxBodySize',
    fragment: { requestLimits: { allowedMethods: ['GET'], allowedContentTypes: ['application/json'] } },
    middlewares: {},
    fidelity: { RequestLimits: 'Unsupported' },
    reasons: { RequestLimits: ['method allow-list', 'content-type allow-list'] },
  },

  // ---- waf ----
  { name: 'waf Block', fragment: { waf: {} }, middlewares: {}, fidelity: { WAF: 'Unsupported' }, reasons: { WAF: ['no built-in WAF'] } },
  { name: 'waf Detect', fragment: { waf: { mode: 'Detect' } }, middlewares: {}, fidelity: { WAF: 'Unsupported' } },
  { name: 'waf disabled', fragment: { waf: { enabled: false } }, middlewares: {}, fidelity: { WAF: 'Exact' } },

  // ---- logging ----
  {
    name: 'logging on',
    fragment: { logging: {} },
    middlewares: {},
    fidelity: { Logging: 'Approximated' },
    reasons: { Logging: ['global', 'accessLog'] },
    annotations: { [ANNOTATION_ACCESS_LOGS]: 'true' },
  },
  {
    name: 'logging off',
    fragment: { logging: { accessLog: false } },
    middlewares: {},
    fidelity: { Logging: 'Approximated' },
    annotations: { [ANNOTATION_ACCESS_LOGS]: 'false' },
  },

  // ---- controls without a Traefik artifact ----
  { name: 'network and sidecar only', fragment: { network: {}, sidecar: { appPort: 3000 } }, middlewares: {}, fidelity: {} },
];

/** The control a Middleware is for: its name without the prefix and the hash. */
const suffix = (name: string): string => name.slice(`apisec-${POLICY.name}-`.length, -11);

describe('renderTraefik', () => {
  it.each(cases)('$name', ({ fragment, middlewares, fidelity, reasons, annotations }) => {
    const out = render(fragment);
    expect(Object.fromEntries(out.middlewares.map((m) => [suffix(m.metadata.name), m.spec]))).toEqual(middlewares);
    expect(Object.fromEntries(Object.entries(out.fidelity).map(([k, v]) => [k, v.fidelity]))).toEqual(fidelity);
    for (const [control, parts] of Object.entries(reasons ?? {}) as [ControlName, string[]][]) {
      const note = out.fidelity[control];
      for (const part of parts) expect([note?.reason, ...(note?.unenforced ?? [])].join('; ')).toContain(part);
    }
    // Anything not Exact says why.
    for (const note of Object.values(out.fidelity)) if (note.fidelity !== 'Exact') expect(note.reason).toBeTruthy();

    const chain = Object.keys(middlewares).map((c) => `shop-${generatedName(POLICY, c)}@kubernetescrd`);
    const expected = { ...annotations, ...(chain.length ? { [ANNOTATION_MIDDLEWARES]: chain.join(',') } : {}) };
    expect(out.annotations).toEqual(expected);
  });

  it.each(cases)('every Middleware is a complete, owned object in the policy namespace: $name', ({ fragment }) => {
    const out = render(fragment);
    for (const m of out.middlewares) {
      expect(m.apiVersion).toBe('traefik.io/v1alpha1');
      expect(m.kind).toBe('Middleware');
      expect(m.metadata.namespace).toBe('shop');
      expect(m.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(m.metadata.labels).toEqual({ [LABEL_MANAGED_BY]: 'api-security-operator', [LABEL_POLICY]: 'shop-api' });
      expect(m.metadata.ownerReferences).toEqual([
        { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'shop-api', uid: POLICY.uid, controller: true },
      ]);
      // One control per Middleware.
      expect(Object.keys(m.spec)).toHaveLength(1);
    }
    for (const key of Object.keys(out.annotations)) expect(key.startsWith('traefik.ingress.kubernetes.io/router.')).toBe(true);
    for (const value of Object.values(out.annotations)) expect(value).not.toMatch(/[\s;{}"'$\\]/);
  });

  it('behind trusted proxies, ipAllowList and the rate-limit source use X-Forwarded-For past them', () => {
    const parsed = ApiSecurityPolicySpec.parse({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'x' }], ipAccess: { allow: ['203.0.113.0/24'] }, rateLimit: { requestsPerSecond: 5, maxConnections: 2 } });
    const byControl = (trusted?: string[]): Record<string, unknown> =>
      Object.fromEntries(renderTraefik(POLICY, parsed, 'x', { trusted: trusted ?? [] }).middlewares.map((m) => [suffix(m.metadata.name), m.spec]));
    const behind = byControl(['10.0.0.0/8']);
    expect(behind.ipallowlist).toEqual({ ipAllowList: { sourceRange: ['203.0.113.0/24'], ipStrategy: { excludedIPs: ['10.0.0.0/8'] } } });
    expect(behind.ratelimit).toMatchObject({ rateLimit: { sourceCriterion: { ipStrategy: { excludedIPs: ['10.0.0.0/8'] } } } });
    expect(behind.inflightreq).toMatchObject({ inFlightReq: { sourceCriterion: { ipStrategy: { excludedIPs: ['10.0.0.0/8'] } } } });
    const direct = byControl();
    expect(direct.ipallowlist).toEqual({ ipAllowList: { sourceRange: ['203.0.113.0/24'] } });
    expect(direct.ratelimit).toMatchObject({ rateLimit: { sourceCriterion: { ipStrategy: {} } } });
  });

  it('chains the Middlewares in a fixed order whatever the spec order', () => {
    const out = render({
      logging: {},
      cors: { allowOrigins: ['https://shop.example.com'] },
      authentication: { apiKey: { authURL: 'http://keys.auth/check' } },
      requestLimits: { maxBodySize: '1Mi' },
      rateLimit: { requestsPerSecond: 5, maxConnections: 2 },
      ipAccess: { allow: ['10.0.0.0/8'] },
      tls: { httpsOnly: true },
    });
    expect(out.middlewares.map((m) => suffix(m.metadata.name))).toEqual([...MIDDLEWARE_ORDER]);
    expect(out.annotations[ANNOTATION_MIDDLEWARES]?.split(',')).toEqual(MIDDLEWARE_ORDER.map((c) => `shop-${generatedName(POLICY, c)}@kubernetescrd`));
  });

  it('shortens long names with a hash and references them as Traefik names them', () => {
    const policy = { ...POLICY, name: `a.b-${'x'.repeat(70)}`, namespace: 'team.one' };
    const out = render({ tls: {} }, policy);
    const name = out.middlewares[0]?.metadata.name ?? '';
    expect(name.length).toBeLessThanOrEqual(63);
    expect(out.annotations[ANNOTATION_MIDDLEWARES]).toBe(`${traefikCrdRef('team.one', name)}`);
    expect(out.annotations[ANNOTATION_MIDDLEWARES]).toMatch(/^team-one-apisec-a-b-x+-[0-9a-f]{10}@kubernetescrd$/);
  });

  it.each([
    ['shop', 'apisec-api-headers', 'shop-apisec-api-headers@kubernetescrd'],
    ['team.one', 'apisec-v1.api-redirect', 'team-one-apisec-v1-api-redirect@kubernetescrd'],
    ['a', 'b--c', 'a-b-c@kubernetescrd'],
  ])('traefikCrdRef(%s, %s) → %s', (ns, name, ref) => {
    expect(traefikCrdRef(ns, name)).toBe(ref);
  });

  it.each([
    ['https://*.example.com', 'https://api.example.com', true],
    ['https://*.example.com', 'https://a-b.example.com', true],
    ['https://*.example.com', 'https://example.com', false],
    ['https://*.example.com', 'https://a.b.example.com', false],
    ['https://*.example.com', 'https://api.example.com.evil.net', false],
    ['https://*.example.com', 'https://apixexample.com', false],
    ['http://*.example.com:8080', 'http://x.example.com:8080', true],
    ['http://*.example.com:8080', 'http://x.example.com:80800', false],
  ])('wildcard origin %s matches %s: %s', (origin, candidate, matches) => {
    expect(new RegExp(wildcardOriginRegex(origin)).test(candidate)).toBe(matches);
  });

  it('is a pure function of its input and ignores the Ingress name', () => {
    const s = spec({ rateLimit: { requestsPerSecond: 5 }, cors: { allowOrigins: ['*'] } });
    expect(renderTraefik(POLICY, s, 'a')).toEqual(renderTraefik(POLICY, s, 'b'));
  });

  it('renders a full policy (snapshot)', () => {
    const out = render({
      tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000, includeSubDomains: true } },
      authentication: { external: { authURL: 'http://authz.auth.svc:8080/check', responseHeaders: ['X-User'] } },
      authorization: { rules: [{ methods: ['GET'], paths: ['/v1/*'] }] },
      rateLimit: { requestsPerSecond: 20, burst: 40, maxConnections: 10 },
      ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16'] },
      cors: { allowOrigins: ['https://shop.example.com', 'https://*.example.org'], allowMethods: ['GET', 'POST'], allowCredentials: true },
      requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET', 'POST'] },
      waf: {},
      network: {},
      logging: {},
    });
    expect(Object.keys(out.fidelity).sort()).toEqual(['Authentication', 'Authorization', 'CORS', 'HTTPSOnly', 'IPAccess', 'Logging', 'RateLimit', 'RequestLimits', 'WAF']);
    expect(out).toMatchSnapshot();
  });

  describe('rateLimit.scope Global', () => {
    const global = { rateLimit: { requestsPerSecond: 20, scope: 'Global' } } as const;
    const store = { endpoint: 'redis.apisec-system.svc:6379', credentials: false };
    const withStore = (fragment: Fragment, s: typeof store | undefined): ReturnType<typeof renderTraefik> => renderTraefik(POLICY, spec(fragment), 'api', { trusted: [], store: s });

    it('counts in the platform store (rateLimit.redis): Exact with the default Deny', () => {
      const out = withStore(global, store);
      expect(out.middlewares[0]?.spec.rateLimit).toEqual({ average: 20, period: '1s', burst: 20, sourceCriterion: IP, redis: { endpoints: [store.endpoint] } });
      expect(out.fidelity.RateLimit).toMatchObject({ fidelity: 'Exact' });
      expect(out.fidelity.RateLimit?.unenforced).toBeUndefined();
    });

    it('Allow is not expressed (Traefik fails closed): Approximated, saying so', () => {
      const out = withStore({ rateLimit: { ...global.rateLimit, onStoreUnavailable: 'Allow' } }, store);
      expect(out.fidelity.RateLimit?.fidelity).toBe('Approximated');
      expect(out.fidelity.RateLimit?.reason).toContain('Traefik answers 500');
    });

    it('without a store, or with one that needs credentials, the global count is unenforced and the bucket stays local', () => {
      for (const out of [withStore(global, undefined), withStore(global, { ...store, credentials: true })]) {
        expect(out.middlewares[0]?.spec.rateLimit?.redis).toBeUndefined();
        expect(out.fidelity.RateLimit?.unenforced?.[0]).toMatch(/^global count \(scope Global\)/);
      }
    });

    it('key Subject: no Traefik limiter; Exact when the guard decides the authentication and has the store, else named as unenforced', () => {
      const bySubject = { authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'keys' } } }, rateLimit: { requestsPerSecond: 5, key: 'Subject', scope: 'Global' } } as const;
      const guarded = renderTraefik(POLICY, spec(bySubject), 'api', { guard: 'http://guard.apisec.svc:8080/check/shop/shop-api', trusted: [], store });
      expect(guarded.middlewares.map((m) => suffix(m.metadata.name))).toEqual(['forwardauth']);
      expect(guarded.fidelity.RateLimit).toMatchObject({ fidelity: 'Exact' });
      expect(guarded.fidelity.RateLimit?.reason).toContain('per authenticated identity');
      const noGuard = renderTraefik(POLICY, spec(bySubject), 'api', { trusted: [], store });
      expect(noGuard.fidelity.RateLimit?.unenforced).toEqual(["key Subject: needs the operator's --guard-url"]);
    });

    it('windows: counted by the guard when it decides the authentication (Approximated: sliding-window estimates), else unenforced', () => {
      const windows: Fragment = { rateLimit: { requestsPerSecond: 20, scope: 'Global', windows: [{ requests: 10000, period: 'Day' }] } };
      const keys = { authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'keys' } } } } as const;
      const guarded = renderTraefik(POLICY, spec({ ...windows, ...keys }), 'api', { guard: 'http://guard.apisec.svc:8080/check/shop/shop-api', trusted: [], store });
      expect(guarded.fidelity.RateLimit).toMatchObject({ fidelity: 'Approximated' });
      expect(guarded.fidelity.RateLimit?.reason).toContain('windows 10000 per Day counted by the apisec guard (forwardAuth)');
      expect(guarded.fidelity.RateLimit?.unenforced).toBeUndefined();
      expect(withStore(windows, store).fidelity.RateLimit?.unenforced).toEqual([expect.stringMatching(/^windows 10000 per Day: counted only by the apisec guard/)]);
    });

    it('a Local limit never uses the store, and says it counts per replica and per router', () => {
      const out = withStore({ rateLimit: { requestsPerSecond: 20 } }, store);
      expect(out.middlewares[0]?.spec.rateLimit?.redis).toBeUndefined();
      expect(out.fidelity.RateLimit).toMatchObject({ fidelity: 'Approximated' });
      expect(out.fidelity.RateLimit?.reason).toContain('per Traefik replica and per router');
    });
  });
});
