// The Envoy Gateway renderer: what each control becomes in the SecurityPolicy and BackendTrafficPolicy, and
// what it reports as approximated, delegated or not enforced. (Acceptance of every object by Envoy
// Gateway's CRDs on a real API server: test/integration/envoy-gateway.test.ts.)
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { renderEnvoyGateway, serviceOfURL, type EnvoyGatewayObject } from './envoy-gateway.ts';

const policy = { name: 'api', namespace: 'shop', uid: '00000000-0000-4000-8000-000000000001' };
const guard = { name: 'apisec-guard', namespace: 'apisec-system', port: 8080 };
const render = (spec: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>, withGuard = true) =>
  renderEnvoyGateway(policy, ApiSecurityPolicySpec.parse({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'x' }], ...spec }), [{ name: 'route' }, { name: 'other', sectionName: 'api' }], withGuard ? { guard } : {});
const of = (objects: EnvoyGatewayObject[], kind: EnvoyGatewayObject['kind']) => objects.find((o) => o.kind === kind)?.spec as Record<string, unknown> | undefined;

describe('renderEnvoyGateway', () => {
  it('attaches both objects to every route (and section) by targetRefs, owned by the policy', () => {
    const { objects } = render({ rateLimit: { requestsPerSecond: 5 }, cors: { allowOrigins: ['https://a.example.com'] } });
    expect(objects.map((o) => o.kind)).toEqual(['SecurityPolicy', 'BackendTrafficPolicy']);
    for (const o of objects) {
      expect(o.spec.targetRefs).toEqual([
        { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'route' },
        { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'other', sectionName: 'api' },
      ]);
      expect(o.metadata.ownerReferences[0]).toMatchObject({ kind: 'ApiSecurityPolicy', name: 'api', uid: policy.uid });
      expect(o.metadata.name).toMatch(/^apisec-/);
    }
  });

  it('validates JWTs natively, with authorization rules as RBAC on methods, exact and subtree paths and scopes', () => {
    const { objects, fidelity } = render({
      authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/jwks', audiences: ['shop'] } },
      authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/items/*'], requireScopes: ['items:read'] }, { methods: ['POST'], paths: ['/v1/orders'] }] },
    });
    const sp = of(objects, 'SecurityPolicy')!;
    expect(sp.jwt).toEqual({ providers: [{ name: 'apisec', issuer: 'https://id.example.com', audiences: ['shop'], remoteJWKS: { uri: 'https://id.example.com/jwks' } }] });
    expect(sp.authorization).toEqual({
      defaultAction: 'Deny',
      rules: [
        { action: 'Allow', operation: { methods: ['GET'], path: { type: 'Exact', value: '/v1/items' } }, principal: { clientCIDRs: ['0.0.0.0/0', '::/0'], jwt: { provider: 'apisec', scopes: ['items:read'] } } },
        { action: 'Allow', operation: { methods: ['GET'], path: { type: 'PathPrefix', value: '/v1/items/' } }, principal: { clientCIDRs: ['0.0.0.0/0', '::/0'], jwt: { provider: 'apisec', scopes: ['items:read'] } } },
        { action: 'Allow', operation: { methods: ['POST'], path: { type: 'Exact', value: '/v1/orders' } }, principal: { clientCIDRs: ['0.0.0.0/0', '::/0'] } },
      ],
    });
    expect(fidelity.Authentication?.fidelity).toBe('Exact');
    expect(fidelity.Authorization).toMatchObject({ fidelity: 'Approximated' });
    expect(fidelity.Authorization?.unenforced).toBeUndefined();
  });

  it('puts deny ranges first, limits every allow rule to the allowed ranges, and never lets the default pass them', () => {
    const { objects } = render({
      authentication: { apiKey: { header: 'X-Api-Key', secretRef: { name: 'keys' } } },
      authorization: { defaultAction: 'Allow', rules: [{ methods: ['DELETE'], paths: ['/admin'] }] },
      ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] },
    });
    const sp = of(objects, 'SecurityPolicy')!;
    expect(sp.apiKeyAuth).toEqual({ credentialRefs: [{ group: '', kind: 'Secret', name: 'keys' }], extractFrom: [{ headers: ['X-Api-Key'] }], forwardClientIDHeader: 'X-Auth-Client', sanitize: true });
    expect(sp.authorization).toEqual({
      defaultAction: 'Deny',
      rules: [
        { action: 'Deny', principal: { clientCIDRs: ['10.9.0.0/16'] } },
        { action: 'Allow', operation: { methods: ['DELETE'], path: { type: 'Exact', value: '/admin' } }, principal: { clientCIDRs: ['10.0.0.0/8'] } },
        { action: 'Allow', principal: { clientCIDRs: ['10.0.0.0/8'] } },
      ],
    });
  });

  it('sends OIDC to the guard by extAuth (path /check/ns/policy), which then decides authorization too', () => {
    const { objects, fidelity } = render({
      authentication: { oidc: { issuerURL: 'https://id.example.com', claimHeaders: [{ claim: 'email', header: 'X-Auth-Email' }] } },
      authorization: { rules: [{ methods: ['GET'], paths: ['/*'], requireScopes: ['read'] }] },
    });
    const sp = of(objects, 'SecurityPolicy')!;
    expect(sp.extAuth).toEqual({ http: { backendRefs: [guard], path: '/check/shop/api', headersToBackend: ['X-Auth-Subject', 'X-Auth-Scopes', 'X-Auth-Client', 'X-Auth-Email'] }, headersToExtAuth: ['X-Forwarded-For'] });
    expect(sp.authorization).toBeUndefined();
    // The guard is in another namespace: only a ReferenceGrant there, which the operator does not check, lets it be called.
    expect(fidelity.Authorization).toMatchObject({ fidelity: 'Delegated', reason: expect.stringContaining('ReferenceGrant in apisec-system') });
    expect(fidelity.Authentication).toMatchObject({ fidelity: 'Delegated', reason: expect.stringContaining('neither writes nor checks') });
    const sameNamespace = renderEnvoyGateway(policy, ApiSecurityPolicySpec.parse({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'x' }], authentication: { oidc: { issuerURL: 'https://id.example.com' } } }), [{ name: 'route' }], { guard: { ...guard, namespace: 'shop' } });
    expect(sameNamespace.fidelity.Authentication?.fidelity).toBe('Exact');
    expect(render({ authentication: { oidc: { issuerURL: 'https://id.example.com' } } }, false).fidelity.Authentication?.fidelity).toBe('Unsupported');
  });

  it('calls a user endpoint named by its Service, delegated; a URL that names no Service is not enforced', () => {
    const ok = render({ authentication: { external: { authURL: 'http://authz.auth.svc.cluster.local:9000/check', responseHeaders: ['X-User'] } } });
    expect(of(ok.objects, 'SecurityPolicy')!.extAuth).toEqual({ http: { backendRefs: [{ name: 'authz', namespace: 'auth', port: 9000 }], path: '/check', headersToBackend: ['X-User'] } });
    expect(ok.fidelity.Authentication).toMatchObject({ fidelity: 'Delegated', reason: expect.stringContaining('needs a ReferenceGrant there') });
    const bad = render({ authentication: { external: { authURL: 'https://auth.example.com/check' } } });
    expect(bad.objects).toEqual([]);
    expect(bad.fidelity.Authentication?.fidelity).toBe('Unsupported');
  });

  it('limits per client address in each family, or per header value; connections and burst are stated, not faked', () => {
    const ip = render({ rateLimit: { requestsPerMinute: 600, burst: 20, maxConnections: 5 } });
    expect(of(ip.objects, 'BackendTrafficPolicy')!.rateLimit).toEqual({
      type: 'Local',
      local: {
        rules: [
          { clientSelectors: [{ sourceCIDR: { type: 'Distinct', value: '0.0.0.0/0' } }], limit: { requests: 600, unit: 'Minute' } },
          { clientSelectors: [{ sourceCIDR: { type: 'Distinct', value: '::/0' } }], limit: { requests: 600, unit: 'Minute' } },
        ],
      },
    });
    expect(ip.fidelity.RateLimit).toMatchObject({ fidelity: 'Approximated', unenforced: ['maxConnections 5: a route has no per-client connection limit'] });
    const header = render({ rateLimit: { requestsPerSecond: 10, key: 'Header', header: 'X-Client' } });
    expect(of(header.objects, 'BackendTrafficPolicy')!.rateLimit).toMatchObject({ local: { rules: [{ clientSelectors: [{ headers: [{ name: 'X-Client', type: 'Distinct' }] }], limit: { requests: 10, unit: 'Second' } }] } });
    expect(header.fidelity.RateLimit?.unenforced).toEqual([expect.stringContaining('requests without header X-Client')]);
  });

  it('a Global limit goes to Envoy Gateway\'s global rate limit service: Delegated (its store is the EnvoyGateway\'s, not the operator\'s)', () => {
    const out = render({ rateLimit: { requestsPerSecond: 10, scope: 'Global', onStoreUnavailable: 'Allow' } });
    expect(of(out.objects, 'BackendTrafficPolicy')!.rateLimit).toMatchObject({ type: 'Global', global: { rules: [{ limit: { requests: 10, unit: 'Second' } }, { limit: { requests: 10, unit: 'Second' } }] } });
    expect(out.fidelity.RateLimit).toMatchObject({ fidelity: 'Delegated' });
    expect(out.fidelity.RateLimit?.reason).toContain('onStoreUnavailable is not expressed');
    expect(out.fidelity.RateLimit?.unenforced).toBeUndefined();
  });

  it('bounds the request body in bytes (413), and reports what a route cannot say', () => {
    const { objects, fidelity } = render({ requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET'] }, tls: { httpsOnly: true }, waf: { enabled: true }, logging: { accessLog: true }, authentication: { mtls: { caSecretRef: 'ca' } } });
    expect(of(objects, 'BackendTrafficPolicy')!.requestBuffer).toEqual({ limit: '1048576' });
    expect(fidelity.RequestLimits).toMatchObject({ fidelity: 'Approximated', unenforced: [expect.stringContaining('method allow-list')] });
    expect([fidelity.HTTPSOnly?.fidelity, fidelity.WAF?.fidelity, fidelity.Logging?.fidelity, fidelity.Authentication?.fidelity]).toEqual(['Unsupported', 'Unsupported', 'Delegated', 'Unsupported']);
  });

  it('states anonymous rules, and scopes without a JWT, as not enforced', () => {
    const { fidelity } = render({ authentication: { apiKey: { secretRef: { name: 'keys' } } }, authorization: { rules: [{ methods: ['GET'], paths: ['/health'], anonymous: true }, { methods: ['GET'], paths: ['/v1/*'], requireScopes: ['read'] }] } });
    expect(fidelity.Authorization?.unenforced).toEqual([expect.stringContaining('anonymous rule /health'), expect.stringContaining('scopes read')]);
  });

  it.each([
    ['http://authz.auth/check', { service: { name: 'authz', namespace: 'auth', port: 80 }, path: '/check' }],
    ['http://authz.auth.svc:8080', { service: { name: 'authz', namespace: 'auth', port: 8080 }, path: '/' }],
    ['https://authz.auth/check', undefined],
    ['http://authz/check', undefined],
    ['http://authz.auth.example.com/check', undefined],
    ['http://authz.auth:70000/', undefined],
  ])('reads %s as %j', (url, expected) => expect(serviceOfURL(url)).toEqual(expected));
});
