// Envoy Gateway objects against Envoy Gateway's own CRDs (and the Gateway API's), installed from their Go
// modules on the real API server: every shape the renderer writes is accepted by the schemas and CEL
// rules, with unknown fields refused (fieldValidation=Strict), so nothing is silently pruned. There is no
// Envoy binary here: this is schema-proven, not traffic-proven (docs/fidelity.md says so).
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { renderEnvoyGateway } from '../../src/render/envoy-gateway.ts';
import { installGatewayCrds } from '../support/gateway.ts';
import { apply, clientAs, createNamespace } from '../support/kube.ts';

const FULL: Omit<ApiSecurityPolicySpecInput, 'targetRefs'> = {
  authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/jwks', audiences: ['shop', 'admin'], claimHeaders: [{ claim: 'email', header: 'X-Auth-Email' }] } },
  authorization: { defaultAction: 'Allow', rules: [{ methods: ['GET', 'HEAD'], paths: ['/v1/items/*', '/v1/health'], requireScopes: ['items:read'] }, { methods: ['POST'], paths: ['/*'] }] },
  ipAccess: { allow: ['10.0.0.0/8', 'fd00::/8'], deny: ['10.9.0.0/16'] },
  cors: { allowOrigins: ['https://shop.example.com', 'https://*.shop.example.com'], allowMethods: ['GET', 'POST'], allowHeaders: ['Content-Type'], exposeHeaders: ['X-Request-Id'], allowCredentials: true, maxAgeSeconds: 600 },
  rateLimit: { requestsPerSecond: 100000 },
  requestLimits: { maxBodySize: '64Gi' },
};

const SHAPES: [string, Omit<ApiSecurityPolicySpecInput, 'targetRefs'>][] = [
  ['every control, JWT natively', FULL],
  ['API keys natively, rules without scopes, a per-header limit per minute', { authentication: { apiKey: { header: 'X-Api-Key', secretRef: { name: 'keys' } } }, authorization: { rules: [{ methods: ['DELETE'], paths: ['/admin/*'] }] }, rateLimit: { requestsPerMinute: 6000000, key: 'Header', header: 'X-Client-Id' } }],
  ['OIDC through the guard, with claim headers', { authentication: { oidc: { issuerURL: 'https://id.example.com', claimHeaders: [{ claim: 'tenant', header: 'X-Auth-Tenant' }] } }, authorization: { rules: [{ methods: ['GET'], paths: ['/*'], requireScopes: ['read'] }] }, requestLimits: { maxBodySize: '1' } }],
  ['API keys through the guard? no: a user endpoint with response headers', { authentication: { external: { authURL: 'http://authz.auth.svc.cluster.local:9000/check', responseHeaders: ['X-User', 'X-Tenant'] } }, cors: { allowOrigins: ['*'], maxAgeSeconds: 0 } }],
  ['a Global limit (the global rate limit service)', { rateLimit: { requestsPerSecond: 50, scope: 'Global' } }],
  ['client ranges only', { ipAccess: { allow: ['192.0.2.0/24'] } }],
  ['deny ranges only', { ipAccess: { deny: ['198.51.100.0/24', '2001:db8::/32'] } }],
];

describe('Envoy Gateway objects on the real API server, under Envoy Gateway\'s CRDs', () => {
  let admin: KubeClient;
  let ns: string;

  beforeAll(async () => {
    admin = clientAs('admin');
    const crds = await installGatewayCrds(admin);
    expect(crds).toEqual(expect.arrayContaining(['httproutes.gateway.networking.k8s.io', 'securitypolicies.gateway.envoyproxy.io', 'backendtrafficpolicies.gateway.envoyproxy.io']));
    ns = await createNamespace(admin, 'envoy-gateway');
    // The user's route (parent Gateway and backend need not exist for admission).
    await apply(admin, {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'shop', namespace: ns },
      spec: { parentRefs: [{ name: 'eg' }], rules: [{ name: 'api', backendRefs: [{ name: 'shop', port: 80 }] }, { name: 'web', backendRefs: [{ name: 'web', port: 80 }] }] },
    } as KubeObject, 'user', 'Strict');
  }, 120_000);

  it.each(SHAPES)('%s: each object is accepted as written (strict field validation), and nothing the server keeps differs', async (_name, shape) => {
    const spec = ApiSecurityPolicySpec.parse({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'unused' }], ...shape });
    const guard = { name: 'apisec-guard', namespace: 'apisec-system', port: 8080 };
    const { objects } = renderEnvoyGateway({ name: 'shop-api', namespace: ns, uid: '00000000-0000-4000-8000-000000000001' }, spec, [{ name: 'shop', sectionName: 'api' }, { name: 'other' }], { guard });
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) {
      const stored = await apply<KubeObject & { spec: unknown }>(admin, o as unknown as KubeObject, 'api-security-operator', 'Strict').catch((err: unknown) => {
        throw new Error(`${o.kind} refused: ${err instanceof ApiError ? err.message : String(err)}\n${JSON.stringify(o.spec, null, 1)}`);
      });
      // Defaults the CRD adds are fine; what the operator wrote must come back unchanged.
      expect(stored.spec).toMatchObject(o.spec as unknown as Record<string, unknown>);
    }
  });
});
