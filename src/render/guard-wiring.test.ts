// Without authURL, jwt, oidc and apiKey are decided by the apisec guard: each data plane that can call
// it is pointed at /check/{namespace}/{policy} and both Authentication and Authorization are Exact;
// with authURL the user's endpoint decides (Delegated) and the rules stay unenforced; without a guard
// URL nothing checks the credentials (Unsupported).
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { evaluate } from '../compliance/evaluate.ts';
import { render } from './index.ts';
import { renderHaproxy } from './haproxy.ts';
import { renderIngressNginx } from './ingress-nginx.ts';
import { renderSidecarNginxConf, sidecarFidelity } from './sidecar-nginx.ts';
import { renderTraefik } from './traefik.ts';
import { defaultSettings, type IngressLike, type PolicyRef } from './types.ts';

const POLICY: PolicyRef = { name: 'orders', namespace: 'shop', uid: 'u-1' };
const GUARD = 'http://apisec-guard.apisec-system.svc:8080';
const CHECK = `${GUARD}/check/shop/orders`;
const RULES = { defaultAction: 'Deny' as const, rules: [{ methods: ['GET' as const], paths: ['/v1/*'], requireScopes: ['orders:read'] }] };

const spec = (s: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): ApiSecurityPolicySpec =>
  ApiSecurityPolicySpec.parse({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }], sidecar: { appPort: 3000 }, ...s });

const methods: [string, Omit<ApiSecurityPolicySpecInput, 'targetRefs'>['authentication'], string][] = [
  ['jwt', { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/jwks', audiences: ['orders'] } }, 'Authorization'],
  ['oidc', { oidc: { issuerURL: 'https://id.example.com' } }, 'Authorization'],
  ['apiKey', { apiKey: { header: 'X-Client-Key', secretRef: { name: 'keys' } } }, 'X-Client-Key'],
];

describe.each(methods)('%s without authURL', (_m, authentication, credential) => {
  const s = spec({ authentication, authorization: RULES });

  it('ingress-nginx: auth-url to the guard with the identity headers; both controls Exact', () => {
    const out = renderIngressNginx(s, 'shop', CHECK);
    expect(out.annotations['nginx.ingress.kubernetes.io/auth-url']).toBe(CHECK);
    expect(out.annotations['nginx.ingress.kubernetes.io/auth-response-headers']).toBe('X-Auth-Subject,X-Auth-Scopes,X-Auth-Client');
    expect(out.fidelity.Authentication?.fidelity).toBe('Exact');
    expect(out.fidelity.Authorization).toMatchObject({ fidelity: 'Exact' });
    expect(out.fidelity.Authorization?.unenforced).toBeUndefined();
  });

  it('Traefik: forwardAuth to the guard, only the credential header passed, identity headers back', () => {
    const out = renderTraefik(POLICY, s, 'api', { guard: CHECK, trusted: [] });
    const fa = out.middlewares.find((m) => m.spec.forwardAuth)?.spec.forwardAuth;
    expect(fa).toEqual({ address: CHECK, authRequestHeaders: [credential], authResponseHeaders: ['X-Auth-Subject', 'X-Auth-Scopes', 'X-Auth-Client'], maxResponseBodySize: 65536 });
    expect(out.fidelity.Authentication?.fidelity).toBe('Exact');
    expect(out.fidelity.Authorization?.fidelity).toBe('Exact');
  });

  it('sidecar: auth_request to the guard; both controls Exact', () => {
    const conf = renderSidecarNginxConf(POLICY, s, { guard: CHECK, trusted: [] });
    expect(conf).toContain('auth_request /.apisec/auth;');
    expect(conf).toContain('server apisec-guard.apisec-system.svc:8080;');
    expect(conf).toContain('proxy_pass http://apisec_guard/check/shop/orders;');
    expect(conf).toContain(`proxy_set_header ${credential} $http_${credential.toLowerCase().replace(/-/g, '_')};`);
    expect(conf).toContain('proxy_pass_request_headers off;');
    expect(conf).toContain('proxy_set_header X-Auth-Subject $apisec_x_auth_subject;');
    expect(sidecarFidelity(s, { guard: CHECK, trusted: [] })).toMatchObject({ Authentication: { fidelity: 'Exact' }, Authorization: { fidelity: 'Exact' } });
  });

  it('HAProxy cannot call it: Unsupported, and the rules unenforced', () => {
    const out = renderHaproxy(s);
    expect(out.fidelity.Authentication?.fidelity).toBe('Unsupported');
    expect(out.fidelity.Authorization?.unenforced?.length).toBeGreaterThan(0);
  });

  it('without a guard URL nothing checks the credentials: Unsupported, nothing written, and Fail', () => {
    const out = renderIngressNginx(s, 'shop', undefined);
    expect(out.annotations['nginx.ingress.kubernetes.io/auth-url']).toBeUndefined();
    expect(out.fidelity.Authentication?.fidelity).toBe('Unsupported');
    expect(out.fidelity.Authorization?.unenforced?.length).toBeGreaterThan(0);
    expect(renderSidecarNginxConf(POLICY, s)).not.toContain('auth_request');
    expect(sidecarFidelity(s).Authentication).toBeUndefined();
  });

  it('status: Pass for both controls with the guard, Fail without', () => {
    const ing: IngressLike = { metadata: { name: 'api', namespace: 'shop' }, spec: { ingressClassName: 'nginx', tls: [{ hosts: ['a'] }] } };
    const judge = (guardURL?: string) => {
      const out = render({ policy: POLICY, spec: s, ingresses: [ing], services: [], settings: { ...defaultSettings, ...(guardURL ? { guardURL } : {}) } });
      const c = evaluate({ spec: s, mode: 'Enforce', ingresses: [ing], anyTarget: true, fidelity: out.fidelity, networkSkipped: [] }).controls;
      return Object.fromEntries(c.filter((x) => x.control === 'Authentication' || x.control === 'Authorization').map((x) => [x.control, `${x.result}/${x.enforcement}`]));
    };
    expect(judge(GUARD)).toEqual({ Authentication: 'Pass/Enforced', Authorization: 'Pass/Enforced' });
    expect(judge()).toEqual({ Authentication: 'Fail/NotEnforced', Authorization: 'Fail/NotEnforced' });
  });
});

describe('claim headers', () => {
  const s = spec({ authentication: { oidc: { issuerURL: 'https://id.example.com', claimHeaders: [{ claim: 'email', header: 'X-Auth-Email' }] } } });
  it('are copied back by every data plane that calls the guard', () => {
    expect(renderIngressNginx(s, 'shop', CHECK).annotations['nginx.ingress.kubernetes.io/auth-response-headers']).toBe('X-Auth-Subject,X-Auth-Scopes,X-Auth-Client,X-Auth-Email');
    expect(renderTraefik(POLICY, s, 'api', { guard: CHECK, trusted: [] }).middlewares.find((m) => m.spec.forwardAuth)?.spec.forwardAuth?.authResponseHeaders).toContain('X-Auth-Email');
    const conf = renderSidecarNginxConf(POLICY, s, { guard: CHECK, trusted: [] });
    expect(conf).toContain('auth_request_set $apisec_x_auth_email $upstream_http_x_auth_email;');
    expect(conf).toContain('proxy_set_header X-Auth-Email $apisec_x_auth_email;');
  });
  it('must be X-Auth-* and not one of the guard\'s own', () => {
    for (const header of ['Authorization', 'Host', 'X-Auth-Subject', 'x-auth-scopes']) {
      expect(ApiSecurityPolicySpec.safeParse({ targetRefs: [{ group: '', kind: 'Service', name: 'a' }], authentication: { jwt: { issuer: 'https://i', jwksURI: 'https://i/k', claimHeaders: [{ claim: 'email', header }] } } }).success).toBe(false);
    }
  });
});

describe('with a user authURL the guard is not involved', () => {
  const s = spec({ authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/jwks', authURL: 'http://auth.example.com/check' } }, authorization: RULES });
  it('stays Delegated, the rules unenforced, even when the operator knows a guard', () => {
    const out = renderIngressNginx(s, 'shop', CHECK);
    expect(out.annotations['nginx.ingress.kubernetes.io/auth-url']).toBe('http://auth.example.com/check');
    expect(out.fidelity.Authentication?.fidelity).toBe('Delegated');
    expect(out.fidelity.Authorization?.unenforced?.length).toBeGreaterThan(0);
    expect(renderSidecarNginxConf(POLICY, s, { guard: CHECK, trusted: [] })).not.toContain('auth_request');
  });
});

describe('schema', () => {
  it('apiKey takes exactly one of authURL and secretRef; an anonymous rule cannot require scopes', () => {
    const base = { targetRefs: [{ group: '', kind: 'Service', name: 'a' }] };
    expect(ApiSecurityPolicySpec.safeParse({ ...base, authentication: { apiKey: {} } }).success).toBe(false);
    expect(ApiSecurityPolicySpec.safeParse({ ...base, authentication: { apiKey: { authURL: 'http://a.b/c', secretRef: { name: 'k' } } } }).success).toBe(false);
    expect(ApiSecurityPolicySpec.safeParse({ ...base, authentication: { apiKey: { secretRef: { name: 'k' } } } }).success).toBe(true);
    expect(ApiSecurityPolicySpec.safeParse({ ...base, authorization: { rules: [{ methods: ['GET'], paths: ['/h'], anonymous: true, requireScopes: ['x'] }] } }).success).toBe(false);
  });
});
