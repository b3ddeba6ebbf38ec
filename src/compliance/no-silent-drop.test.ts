// The rule of docs/compliance.md, checked field by field: for every control × data plane × target kind
// and every optional field, either what the operator writes changes when the field changes, or the
// control is not Pass. A declared field that reaches no component and still reads Pass is a lie.
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput, type ControlName } from '../api/v1alpha1.ts';
import { defaultSettings, type IngressLike, type ServiceLike } from '../render/types.ts';
import { assessPolicy, type Assessment } from './assess.ts';

type Fragment = Omit<ApiSecurityPolicySpecInput, 'targetRefs'>;

const AUTH = 'http://authz.auth.svc.cluster.local/check';
const BASE: Fragment = {
  tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000 } },
  rateLimit: { requestsPerSecond: 10, burst: 20 },
  ipAccess: { allow: ['10.0.0.0/8'] },
  cors: { allowOrigins: ['https://a.example.com'] },
  requestLimits: { maxBodySize: '1Mi' },
  waf: { enabled: true, mode: 'Block' },
  network: { defaultDeny: true },
  logging: { accessLog: true },
};

interface Variation {
  field: string;
  control: ControlName;
  /** Two specs that differ only in this field (on top of BASE). */
  a: Fragment;
  b: Fragment;
}

const oidc = (o: object): Fragment => ({ authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: AUTH, ...o } } });
const jwt = (o: object): Fragment => ({ authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/keys', authURL: AUTH, ...o } } });
const mtls = (o: object): Fragment => ({ authentication: { mtls: { caSecretRef: 'ca', ...o } } });
const withAuth = (f: Fragment): Fragment => ({ authentication: { external: { authURL: AUTH } }, ...f });

const VARIATIONS: Variation[] = [
  { field: 'tls.hsts.maxAgeSeconds', control: 'HTTPSOnly', a: { tls: { hsts: { maxAgeSeconds: 600 } } }, b: { tls: { hsts: { maxAgeSeconds: 31536000 } } } },
  { field: 'tls.hsts.includeSubDomains', control: 'HTTPSOnly', a: { tls: { hsts: { includeSubDomains: true } } }, b: { tls: { hsts: { includeSubDomains: false } } } },
  { field: 'tls.hsts.preload', control: 'HTTPSOnly', a: { tls: { hsts: { preload: true } } }, b: { tls: { hsts: {} } } },
  { field: 'authentication.oidc.issuerURL', control: 'Authentication', a: oidc({ issuerURL: 'https://id.example.com' }), b: oidc({ issuerURL: 'https://other.example.com' }) },
  { field: 'authentication.oidc.audiences', control: 'Authentication', a: oidc({ audiences: ['a'] }), b: oidc({ audiences: ['b'] }) },
  { field: 'authentication.oidc.authURL', control: 'Authentication', a: oidc({}), b: oidc({ authURL: 'http://other.auth.svc/check' }) },
  { field: 'authentication.oidc.signinURL', control: 'Authentication', a: oidc({ signinURL: 'https://authz.auth.svc.cluster.local/start' }), b: oidc({}) },
  { field: 'authentication.jwt.issuer', control: 'Authentication', a: jwt({}), b: jwt({ issuer: 'https://other.example.com' }) },
  { field: 'authentication.jwt.jwksURI', control: 'Authentication', a: jwt({}), b: jwt({ jwksURI: 'https://other.example.com/keys' }) },
  { field: 'authentication.jwt.audiences', control: 'Authentication', a: jwt({ audiences: ['a'] }), b: jwt({ audiences: ['b'] }) },
  { field: 'authentication.apiKey.header', control: 'Authentication', a: { authentication: { apiKey: { authURL: AUTH, header: 'X-Key' } } }, b: { authentication: { apiKey: { authURL: AUTH, header: 'X-Other' } } } },
  { field: 'authentication.mtls.caSecretRef', control: 'Authentication', a: mtls({}), b: mtls({ caSecretRef: 'other' }) },
  { field: 'authentication.mtls.verifyDepth', control: 'Authentication', a: mtls({ verifyDepth: 1 }), b: mtls({ verifyDepth: 3 }) },
  { field: 'authentication.mtls.passCertificateToUpstream', control: 'Authentication', a: mtls({ passCertificateToUpstream: true }), b: mtls({}) },
  { field: 'authentication.external.responseHeaders', control: 'Authentication', a: { authentication: { external: { authURL: AUTH, responseHeaders: ['X-User'] } } }, b: { authentication: { external: { authURL: AUTH } } } },
  { field: 'authorization.rules', control: 'Authorization', a: withAuth({ authorization: { rules: [{ methods: ['GET'], paths: ['/a'] }] } }), b: withAuth({ authorization: { rules: [{ methods: ['POST'], paths: ['/b'] }] } }) },
  { field: 'authorization.defaultAction', control: 'Authorization', a: withAuth({ authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/a'] }] } }), b: withAuth({ authorization: { defaultAction: 'Allow', rules: [{ methods: ['GET'], paths: ['/a'] }] } }) },
  { field: 'authorization.rules.requireScopes', control: 'Authorization', a: withAuth({ authorization: { rules: [{ methods: ['GET'], paths: ['/a'], requireScopes: ['x'] }] } }), b: withAuth({ authorization: { rules: [{ methods: ['GET'], paths: ['/a'] }] } }) },
  { field: 'rateLimit.requestsPerSecond', control: 'RateLimit', a: { rateLimit: { requestsPerSecond: 10, burst: 20 } }, b: { rateLimit: { requestsPerSecond: 15, burst: 20 } } },
  { field: 'rateLimit.burst', control: 'RateLimit', a: { rateLimit: { requestsPerSecond: 10, burst: 20 } }, b: { rateLimit: { requestsPerSecond: 10, burst: 40 } } },
  { field: 'rateLimit.key', control: 'RateLimit', a: { rateLimit: { requestsPerSecond: 10, key: 'Header', header: 'X-Client' } }, b: { rateLimit: { requestsPerSecond: 10 } } },
  { field: 'rateLimit.header', control: 'RateLimit', a: { rateLimit: { requestsPerSecond: 10, key: 'Header', header: 'X-Client' } }, b: { rateLimit: { requestsPerSecond: 10, key: 'Header', header: 'X-Other' } } },
  { field: 'rateLimit.maxConnections', control: 'RateLimit', a: { rateLimit: { requestsPerSecond: 10, maxConnections: 5 } }, b: { rateLimit: { requestsPerSecond: 10, maxConnections: 50 } } },
  { field: 'ipAccess.allow', control: 'IPAccess', a: { ipAccess: { allow: ['10.0.0.0/8'] } }, b: { ipAccess: { allow: ['192.168.0.0/16'] } } },
  { field: 'ipAccess.deny', control: 'IPAccess', a: { ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16'] } }, b: { ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.2.0.0/16'] } } },
  { field: 'cors.allowOrigins', control: 'CORS', a: { cors: { allowOrigins: ['https://a.example.com'] } }, b: { cors: { allowOrigins: ['https://b.example.com'] } } },
  { field: 'cors.allowMethods', control: 'CORS', a: { cors: { allowOrigins: ['https://a.example.com'], allowMethods: ['GET'] } }, b: { cors: { allowOrigins: ['https://a.example.com'], allowMethods: ['POST'] } } },
  { field: 'cors.allowHeaders', control: 'CORS', a: { cors: { allowOrigins: ['https://a.example.com'], allowHeaders: ['X-A'] } }, b: { cors: { allowOrigins: ['https://a.example.com'], allowHeaders: ['X-B'] } } },
  { field: 'cors.exposeHeaders', control: 'CORS', a: { cors: { allowOrigins: ['https://a.example.com'], exposeHeaders: ['X-A'] } }, b: { cors: { allowOrigins: ['https://a.example.com'], exposeHeaders: ['X-B'] } } },
  { field: 'cors.allowCredentials', control: 'CORS', a: { cors: { allowOrigins: ['https://a.example.com'], allowCredentials: true } }, b: { cors: { allowOrigins: ['https://a.example.com'] } } },
  { field: 'cors.maxAgeSeconds', control: 'CORS', a: { cors: { allowOrigins: ['https://a.example.com'], maxAgeSeconds: 60 } }, b: { cors: { allowOrigins: ['https://a.example.com'], maxAgeSeconds: 600 } } },
  { field: 'requestLimits.maxBodySize', control: 'RequestLimits', a: { requestLimits: { maxBodySize: '1Mi' } }, b: { requestLimits: { maxBodySize: '2Mi' } } },
  { field: 'requestLimits.allowedMethods', control: 'RequestLimits', a: { requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET'] } }, b: { requestLimits: { maxBodySize: '1Mi', allowedMethods: ['POST'] } } },
  { field: 'requestLimits.allowedContentTypes', control: 'RequestLimits', a: { requestLimits: { maxBodySize: '1Mi', allowedContentTypes: ['application/json'] } }, b: { requestLimits: { maxBodySize: '1Mi', allowedContentTypes: ['text/plain'] } } },
  { field: 'waf.mode', control: 'WAF', a: { waf: { mode: 'Block' } }, b: { waf: { mode: 'Detect' } } },
  { field: 'network.allowFrom', control: 'NetworkIsolation', a: { network: { allowFrom: [{ ingressController: true }] } }, b: { network: { allowFrom: [{ podSelector: { matchLabels: { a: 'b' } } }] } } },
  { field: 'logging.accessLog', control: 'Logging', a: { logging: { accessLog: true } }, b: { logging: { accessLog: false } } },
];

/**
 * Where dropping a field is stricter than honouring it, so Pass stays true: HAProxy has no separate
 * burst (it admits fewer requests) and no Expose-Headers (browsers see fewer headers).
 */
const STRICTER_WHEN_DROPPED = new Set(['haproxy rateLimit.burst', 'haproxy cors.exposeHeaders']);

const ingress = (cls: string): IngressLike => ({
  metadata: { name: 'api', namespace: 'ns' },
  spec: { ingressClassName: cls, tls: [{ hosts: ['api.example.com'], secretName: 'tls' }], rules: [{ host: 'api.example.com', http: { paths: [{ path: '/', backend: { service: { name: 'api' } } }] } }] },
});
const service = (targetPort: number): ServiceLike => ({ metadata: { name: 'api', namespace: 'ns' }, spec: { selector: { app: 'api' }, ports: [{ port: 80, targetPort }] } });

interface Plane {
  name: string;
  target: 'Ingress' | 'Service';
  ingressClass?: string;
  sidecar: boolean;
  targetPort: number;
}

const PLANES: Plane[] = [
  { name: 'ingress-nginx', target: 'Ingress', ingressClass: 'nginx', sidecar: false, targetPort: 8080 },
  { name: 'traefik', target: 'Ingress', ingressClass: 'traefik', sidecar: false, targetPort: 8080 },
  { name: 'haproxy', target: 'Ingress', ingressClass: 'haproxy', sidecar: false, targetPort: 8080 },
  { name: 'ingress-nginx + sidecar', target: 'Ingress', ingressClass: 'nginx', sidecar: true, targetPort: 8443 },
  { name: 'Service + sidecar', target: 'Service', sidecar: true, targetPort: 8443 },
  { name: 'Service + sidecar bypassed', target: 'Service', sidecar: true, targetPort: 3000 },
  { name: 'Service alone', target: 'Service', sidecar: false, targetPort: 8080 },
];

function assess(plane: Plane, fragment: Fragment): Assessment {
  const targetRefs = [plane.target === 'Ingress' ? { group: 'networking.k8s.io' as const, kind: 'Ingress' as const, name: 'api' } : { group: '' as const, kind: 'Service' as const, name: 'api' }];
  const merged = { ...BASE, ...fragment, ...(plane.sidecar ? { sidecar: { port: 8443, appPort: 3000 } } : {}) };
  const spec = ApiSecurityPolicySpec.parse({ targetRefs, ...merged });
  const ing = plane.ingressClass ? ingress(plane.ingressClass) : undefined;
  return assessPolicy({
    policy: { name: 'p', namespace: 'ns', uid: 'u' },
    spec,
    rivals: [],
    lookup: { ingress: (n) => (n === 'api' ? ing : undefined), service: (n) => (n === 'api' ? service(plane.targetPort) : undefined) },
    settings: defaultSettings,
  });
}

/** Everything the operator would write for the policy. */
const written = (a: Assessment): string =>
  JSON.stringify({ ingresses: a.rendered.ingresses.map((i) => i.plan?.annotations), owned: [a.rendered.networkPolicies, a.rendered.configMaps, a.rendered.middlewares] });

const cases = PLANES.flatMap((plane) => VARIATIONS.map((v) => ({ ...v, plane, label: `${plane.name}: ${v.field}` })));

describe('no declared field is silently dropped', () => {
  it.each(cases)('$label', ({ plane, field, control, a, b }) => {
    const [ra, rb] = [assess(plane, a), assess(plane, b)];
    if (written(ra) !== written(rb)) return; // the field reaches a component
    if (STRICTER_WHEN_DROPPED.has(`${plane.name} ${field}`)) return;
    // Nothing the operator writes depends on the field, so two different declarations cannot both be
    // true of the same request path: at most one of them may read Pass.
    const results = [ra, rb].map((r) => r.compliance.controls.find((c) => c.control === control)?.result);
    expect({ field, results }).not.toEqual({ field, results: ['Pass', 'Pass'] });
  });

  it('covers every control that a data plane enforces', () => {
    const covered = new Set(VARIATIONS.map((v) => v.control));
    for (const c of ['HTTPSOnly', 'Authentication', 'Authorization', 'RateLimit', 'IPAccess', 'CORS', 'RequestLimits', 'WAF', 'NetworkIsolation', 'Logging'] as ControlName[]) expect(covered).toContain(c);
  });
});
