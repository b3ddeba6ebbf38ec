import type { ApiSecurityPolicySpec, ApiSecurityPolicySpecInput, ControlName } from '../api/v1alpha1.ts';
import { nginxSize, renderIngressNginx } from './ingress-nginx.ts';
import type { Fidelity } from './types.ts';
import { policySpec } from '../../test/support/builders.ts';

const P = 'nginx.ingress.kubernetes.io/';
const NS = 'shop';

type Fragment = Omit<ApiSecurityPolicySpecInput, 'targetRefs'>;

const spec = (fragment: Fragment): ApiSecurityPolicySpec => policySpec(fragment);

/** Prefixes every key with the ingress-nginx annotation prefix. */
const nginx = (a: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(a).map(([k, v]) => [`${P}${k}`, v]));

interface Case {
  name: string;
  fragment: Fragment;
  annotations: Record<string, string>;
  fidelity: Partial<Record<ControlName, Fidelity>>;
  /** Substrings expected in the reason (or the unenforced parts) of a control's fidelity note. */
  reasons?: Partial<Record<ControlName, string[]>>;
}

const AUTH = 'http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth';

const cases: Case[] = [
  { name: 'empty spec', fragment: {}, annotations: {}, fidelity: {} },

  // ---- HTTPS ----
  {
    name: 'httpsOnly without hsts',
    fragment: { tls: { httpsOnly: true } },
    annotations: nginx({ 'ssl-redirect': 'true', 'force-ssl-redirect': 'true' }),
    fidelity: { HTTPSOnly: 'Exact' },
  },
  {
    name: 'httpsOnly defaulted, with hsts',
    fragment: { tls: { hsts: {} } },
    annotations: nginx({ 'ssl-redirect': 'true', 'force-ssl-redirect': 'true' }),
    fidelity: { HTTPSOnly: 'Delegated' },
    reasons: { HTTPSOnly: ['HSTS', 'ConfigMap', 'does not configure'] },
  },
  { name: 'httpsOnly false', fragment: { tls: { httpsOnly: false, hsts: {} } }, annotations: {}, fidelity: {} },

  // ---- authentication ----
  {
    name: 'oidc with signinURL',
    fragment: { authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: AUTH, signinURL: 'https://auth.example.com/oauth2/start' } } },
    annotations: nginx({ 'auth-url': AUTH, 'auth-signin': 'https://auth.example.com/oauth2/start' }),
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'oidc without signinURL',
    fragment: { authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: AUTH } } },
    annotations: nginx({ 'auth-url': AUTH }),
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'jwt',
    fragment: { authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/.well-known/jwks.json', authURL: 'http://jwt-validator.auth:8080/validate' } } },
    annotations: nginx({ 'auth-url': 'http://jwt-validator.auth:8080/validate' }),
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'apiKey',
    fragment: { authentication: { apiKey: { header: 'X-Api-Key', authURL: 'http://keys.auth/check' } } },
    annotations: nginx({ 'auth-url': 'http://keys.auth/check' }),
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'external with responseHeaders',
    fragment: { authentication: { external: { authURL: 'https://authz.example.com/check', responseHeaders: ['X-User', 'X-Scopes'] } } },
    annotations: nginx({ 'auth-url': 'https://authz.example.com/check', 'auth-response-headers': 'X-User,X-Scopes' }),
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'external with empty responseHeaders',
    fragment: { authentication: { external: { authURL: 'https://authz.example.com/check', responseHeaders: [] } } },
    annotations: nginx({ 'auth-url': 'https://authz.example.com/check' }),
    fidelity: { Authentication: 'Delegated' },
  },
  {
    name: 'mtls with defaults',
    fragment: { authentication: { mtls: { caSecretRef: 'client-ca' } } },
    annotations: nginx({
      'auth-tls-secret': `${NS}/client-ca`,
      'auth-tls-verify-client': 'on',
      'auth-tls-verify-depth': '1',
      'auth-tls-pass-certificate-to-upstream': 'false',
    }),
    fidelity: { Authentication: 'Exact' },
  },
  {
    name: 'mtls with depth and pass-through',
    fragment: { authentication: { mtls: { caSecretRef: 'client-ca', verifyDepth: 3, passCertificateToUpstream: true } } },
    annotations: nginx({
      'auth-tls-secret': `${NS}/client-ca`,
      'auth-tls-verify-client': 'on',
      'auth-tls-verify-depth': '3',
      'auth-tls-pass-certificate-to-upstream': 'true',
    }),
    fidelity: { Authentication: 'Exact' },
  },

  // ---- authorization ----
  {
    name: 'authorization without authentication',
    fragment: { authorization: { rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } },
    annotations: {},
    fidelity: { Authorization: 'Unsupported' },
  },
  {
    name: 'authorization behind an auth endpoint',
    fragment: { authentication: { external: { authURL: AUTH } }, authorization: { rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } },
    annotations: nginx({ 'auth-url': AUTH }),
    fidelity: { Authentication: 'Delegated', Authorization: 'Unsupported' },
    reasons: { Authorization: ['auth endpoint'] },
  },
  {
    name: 'authorization with mtls (no auth endpoint)',
    fragment: { authentication: { mtls: { caSecretRef: 'ca' } }, authorization: { defaultAction: 'Deny' } },
    annotations: nginx({
      'auth-tls-secret': `${NS}/ca`,
      'auth-tls-verify-client': 'on',
      'auth-tls-verify-depth': '1',
      'auth-tls-pass-certificate-to-upstream': 'false',
    }),
    fidelity: { Authentication: 'Exact', Authorization: 'Unsupported' },
  },

  // ---- rate limit ----
  {
    name: 'rps only',
    fragment: { rateLimit: { requestsPerSecond: 10 } },
    annotations: nginx({ 'limit-rps': '10', 'limit-burst-multiplier': '1' }), // burst defaults to the rate, not 5×
    fidelity: { RateLimit: 'Approximated' },
    reasons: { RateLimit: ['per controller replica', '429'] },
  },
  {
    name: 'rpm only',
    fragment: { rateLimit: { requestsPerMinute: 600 } },
    annotations: nginx({ 'limit-rpm': '600', 'limit-burst-multiplier': '1' }),
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    name: 'rps with burst equal to the rate',
    fragment: { rateLimit: { requestsPerSecond: 10, burst: 10 } },
    annotations: nginx({ 'limit-rps': '10', 'limit-burst-multiplier': '1' }),
    fidelity: { RateLimit: 'Approximated' },
    reasons: { RateLimit: ['burst rounded up'] },
  },
  {
    name: 'rps with burst rounded up to a multiple',
    fragment: { rateLimit: { requestsPerSecond: 10, burst: 25 } },
    annotations: nginx({ 'limit-rps': '10', 'limit-burst-multiplier': '3' }),
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    name: 'rps with an exact multiple',
    fragment: { rateLimit: { requestsPerSecond: 20, burst: 40 } },
    annotations: nginx({ 'limit-rps': '20', 'limit-burst-multiplier': '2' }),
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    // ingress-nginx sets the rpm zone's burst to limit-rpm × multiplier (in requests): 600 × 1 ≥ 20.
    name: 'rpm with a small burst',
    fragment: { rateLimit: { requestsPerMinute: 600, burst: 20 } },
    annotations: nginx({ 'limit-rpm': '600', 'limit-burst-multiplier': '1' }),
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    name: 'rpm with a burst above the per-minute rate',
    fragment: { rateLimit: { requestsPerMinute: 60, burst: 150 } },
    annotations: nginx({ 'limit-rpm': '60', 'limit-burst-multiplier': '3' }),
    fidelity: { RateLimit: 'Approximated' },
  },
  {
    name: 'maxConnections and key Header',
    fragment: { rateLimit: { requestsPerSecond: 5, maxConnections: 20, key: 'Header', header: 'X-Client-Id' } },
    annotations: nginx({ 'limit-rps': '5', 'limit-burst-multiplier': '1', 'limit-connections': '20' }),
    fidelity: { RateLimit: 'Approximated' },
    reasons: { RateLimit: ['key Header X-Client-Id: ingress-nginx counts per client address only'] },
  },

  // ---- ip access ----
  {
    name: 'ip allow and deny',
    fragment: { ipAccess: { allow: ['10.0.0.0/8', '192.168.0.0/16'], deny: ['10.1.0.0/16', '2001:db8::/32'] } },
    annotations: nginx({ 'allowlist-source-range': '10.0.0.0/8,192.168.0.0/16', 'denylist-source-range': '10.1.0.0/16,2001:db8::/32' }),
    fidelity: { IPAccess: 'Exact' },
  },
  {
    name: 'ip allow only',
    fragment: { ipAccess: { allow: ['203.0.113.0/24'] } },
    annotations: nginx({ 'allowlist-source-range': '203.0.113.0/24' }),
    fidelity: { IPAccess: 'Exact' },
  },

  // ---- cors ----
  {
    name: 'cors with defaults',
    fragment: { cors: { allowOrigins: ['https://shop.example.com'] } },
    annotations: nginx({ 'enable-cors': 'true', 'cors-allow-origin': 'https://shop.example.com', 'cors-allow-credentials': 'false', 'cors-max-age': '600' }),
    fidelity: { CORS: 'Exact' },
  },
  {
    name: 'cors with everything',
    fragment: {
      cors: {
        allowOrigins: ['https://shop.example.com', 'https://admin.example.com:8443'],
        allowMethods: ['GET', 'POST'],
        allowHeaders: ['Authorization', 'Content-Type'],
        exposeHeaders: ['X-Request-Id'],
        allowCredentials: true,
        maxAgeSeconds: 3600,
      },
    },
    annotations: nginx({
      'enable-cors': 'true',
      'cors-allow-origin': 'https://shop.example.com, https://admin.example.com:8443',
      'cors-allow-methods': 'GET, POST',
      'cors-allow-headers': 'Authorization, Content-Type',
      'cors-expose-headers': 'X-Request-Id',
      'cors-allow-credentials': 'true',
      'cors-max-age': '3600',
    }),
    fidelity: { CORS: 'Exact' },
  },

  // ---- request limits ----
  {
    name: 'maxBodySize only',
    fragment: { requestLimits: { maxBodySize: '1Mi' } },
    annotations: nginx({ 'proxy-body-size': '1m' }),
    fidelity: { RequestLimits: 'Exact' },
  },
  {
    name: 'maxBodySize and allowedMethods',
    fragment: { requestLimits: { maxBodySize: '512Ki', allowedMethods: ['GET'] } },
    annotations: nginx({ 'proxy-body-size': '512k' }),
    fidelity: { RequestLimits: 'Approximated' },
    reasons: { RequestLimits: ['method allow-list'] },
  },
  {
    name: 'allow-lists without maxBodySize',
    fragment: { requestLimits: { allowedMethods: ['GET'], allowedContentTypes: ['application/json'] } },
    annotations: {},
    fidelity: { RequestLimits: 'Unsupported' },
    reasons: { RequestLimits: ['method allow-list', 'content-type allow-list'] },
  },

  // ---- waf ----
  {
    name: 'waf Block',
    fragment: { waf: {} },
    annotations: nginx({ 'enable-modsecurity': 'true', 'enable-owasp-core-rules': 'true' }),
    fidelity: { WAF: 'Delegated' },
    reasons: { WAF: ['SecRuleEngine On'] },
  },
  {
    name: 'waf Detect',
    fragment: { waf: { mode: 'Detect' } },
    annotations: nginx({ 'enable-modsecurity': 'true', 'enable-owasp-core-rules': 'true' }),
    fidelity: { WAF: 'Exact' },
  },
  {
    name: 'waf disabled',
    fragment: { waf: { enabled: false } },
    annotations: nginx({ 'enable-modsecurity': 'false', 'enable-owasp-core-rules': 'false' }),
    fidelity: { WAF: 'Exact' },
  },

  // ---- logging ----
  {
    name: 'logging on',
    fragment: { logging: {} },
    annotations: nginx({ 'enable-access-log': 'true' }),
    fidelity: { Logging: 'Approximated' },
    reasons: { Logging: ['log-format-upstream'] },
  },
  { name: 'logging off', fragment: { logging: { accessLog: false } }, annotations: nginx({ 'enable-access-log': 'false' }), fidelity: { Logging: 'Approximated' } },

  // ---- controls without an ingress-nginx annotation ----
  { name: 'network and sidecar only', fragment: { network: {}, sidecar: { appPort: 3000 } }, annotations: {}, fidelity: {} },
];

describe('renderIngressNginx', () => {
  it.each(cases)('$name', ({ fragment, annotations, fidelity, reasons }) => {
    const out = renderIngressNginx(spec(fragment), NS);
    expect(out.annotations).toEqual(annotations);
    expect(Object.fromEntries(Object.entries(out.fidelity).map(([k, v]) => [k, v.fidelity]))).toEqual(fidelity);
    for (const [control, parts] of Object.entries(reasons ?? {}) as [ControlName, string[]][]) {
      const note = out.fidelity[control];
      for (const part of parts) expect([note?.reason, ...(note?.unenforced ?? [])].join('; ')).toContain(part);
    }
    // Anything not Exact says why.
    for (const note of Object.values(out.fidelity)) if (note.fidelity !== 'Exact') expect(note.reason).toBeTruthy();
  });

  it.each(cases)('never writes a snippet or a foreign annotation: $name', ({ fragment }) => {
    const { annotations } = renderIngressNginx(spec(fragment), NS);
    for (const key of Object.keys(annotations)) {
      expect(key.endsWith('-snippet')).toBe(false);
      expect(key.startsWith(P)).toBe(true);
    }
    for (const value of Object.values(annotations)) expect(value).not.toMatch(/[\r\n;{}"'$\\]/);
  });

  it('renders a full policy without snippets, and each control once', () => {
    const out = renderIngressNginx(
      spec({
        tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000 } },
        authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: AUTH, signinURL: 'https://auth.example.com/oauth2/start' } },
        authorization: { rules: [{ methods: ['GET'], paths: ['/v1/*'] }] },
        rateLimit: { requestsPerSecond: 20, burst: 40, maxConnections: 10 },
        ipAccess: { allow: ['10.0.0.0/8'] },
        cors: { allowOrigins: ['https://shop.example.com'] },
        requestLimits: { maxBodySize: '10M' },
        waf: {},
        network: {},
        logging: {},
      }),
      NS,
    );
    expect(Object.keys(out.annotations).filter((k) => k.endsWith('-snippet'))).toEqual([]);
    expect(out.annotations[`${P}proxy-body-size`]).toBe('10000000');
    expect(Object.keys(out.fidelity).sort()).toEqual(['Authentication', 'Authorization', 'CORS', 'HTTPSOnly', 'IPAccess', 'Logging', 'RateLimit', 'RequestLimits', 'WAF']);
  });

  it('is a pure function of its input', () => {
    const s = spec({ rateLimit: { requestsPerSecond: 5 }, cors: { allowOrigins: ['*'] } });
    expect(renderIngressNginx(s, NS)).toEqual(renderIngressNginx(s, NS));
  });
});

describe('nginxSize via maxBodySize', () => {
  it.each([
    ['1Mi', '1m'],
    ['512Ki', '512k'],
    ['10M', '10000000'], // 10,000,000 bytes is not a multiple of 1024
    ['1Gi', '1g'],
    ['2048Mi', '2g'],
    ['1024Ki', '1m'],
    ['1024', '1k'],
    ['1000', '1000'],
    ['64k', '64000'],
    ['1K', '1000'],
    ['1G', '1000000000'],
    ['8192k', '8000k'], // 8,192,000 bytes = 8000 KiB
    ['1', '1'],
  ])('%s → %s', (size, expected) => {
    expect(renderIngressNginx(spec({ requestLimits: { maxBodySize: size } }), NS).annotations[`${P}proxy-body-size`]).toBe(expected);
  });

  it.each([
    [1023, '1023'],
    [1024 ** 3 * 3, '3g'],
  ])('nginxSize(%d) → %s', (bytes, expected) => {
    expect(nginxSize(bytes)).toBe(expected);
  });
});
