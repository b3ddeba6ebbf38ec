// Traefik through Gateway API: the policy's Middlewares for an HTTPRoute served by Traefik, and the
// check that the user's route chains them by ExtensionRef filters (the operator never edits routes).
// Traffic through a real Traefik: test/integration/traefik-gateway.test.ts.
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import type { RouteLike, RouteRule } from './gateway-api.ts';
import { render } from './index.ts';
import { defaultSettings, type RouteTarget } from './types.ts';

const policy = { name: 'api', namespace: 'shop', uid: '00000000-0000-4000-8000-000000000002' };
const traefikParent = [{ gateway: 'shop/web', found: true, className: 'traefik', controller: 'traefik.io/gateway-controller' }];
const envoyParent = { gateway: 'shop/envoy', found: true, className: 'eg', controller: 'gateway.envoyproxy.io/gatewayclass-controller' };
const spec = (s: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>) => ApiSecurityPolicySpec.parse({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'route' }], ...s });
const ref = (name: string) => ({ type: 'ExtensionRef', extensionRef: { group: 'traefik.io', kind: 'Middleware', name } });
const route = (rules: RouteRule[]): RouteLike => ({ metadata: { name: 'route', namespace: 'shop' }, spec: { parentRefs: [{ name: 'web' }], rules } });
const run = (s: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>, targets: RouteTarget[]) =>
  render({ policy, spec: spec(s), ingresses: [], services: [], settings: defaultSettings, routes: targets });
const LIMITS = { tls: { httpsOnly: true }, rateLimit: { requestsPerSecond: 5 } };

describe('Traefik HTTPRoute targets', () => {
  it('generates the Middlewares and names the exact filters a route without them must add', () => {
    const out = run(LIMITS, [{ route: route([{ backendRefs: [{ name: 'api', port: 80 }] }]), parents: traefikParent }]);
    const names = out.middlewares.map((m) => m.metadata.name);
    expect(names).toHaveLength(2);
    expect(names[0]).toMatch(/^apisec-api-redirect-[0-9a-f]{10}$/);
    expect(out.envoyGateway).toEqual([]);
    const [r] = out.routes;
    expect(r).toMatchObject({ route: 'route', provider: 'traefik', problem: { reason: 'FilterMissing' } });
    expect(r?.problem?.message).toContain(`rule 0: its filters must name, in this order: [{type: ExtensionRef, extensionRef: {group: traefik.io, kind: Middleware, name: ${names[0]}}}, {type: ExtensionRef, extensionRef: {group: traefik.io, kind: Middleware, name: ${names[1]}}}]`);
    // Not in the Middlewares' path: nothing vouches for the controls.
    expect(out.fidelity.RateLimit).toBeUndefined();
  });

  it('accepts a route whose every rule chains them in order, around the user’s own filters', () => {
    const names = run(LIMITS, [{ route: route([]), parents: traefikParent }]).middlewares.map((m) => m.metadata.name);
    const own = { type: 'RequestHeaderModifier' };
    const ok = route([{ name: 'a', filters: [ref(names[0]!), own, ref(names[1]!), ref('somebody-else')] }, { name: 'b', filters: names.map(ref) }]);
    const out = run(LIMITS, [{ route: ok, parents: traefikParent }]);
    expect(out.routes).toEqual([{ route: 'route', provider: 'traefik' }]);
    expect(out.fidelity.RateLimit?.fidelity).toBe('Approximated');
    expect(out.fidelity.HTTPSOnly?.fidelity).toBe('Approximated');
  });

  it('refuses the wrong order, a rule without them, and stale references; a section checks only its rule', () => {
    const names = run(LIMITS, [{ route: route([]), parents: traefikParent }]).middlewares.map((m) => m.metadata.name);
    const reversed = run(LIMITS, [{ route: route([{ filters: [...names].reverse().map(ref) }]), parents: traefikParent }]);
    expect(reversed.routes[0]?.problem?.reason).toBe('FilterMissing');

    const twoRules = route([{ name: 'good', filters: names.map(ref) }, { name: 'bad' }]);
    expect(run(LIMITS, [{ route: twoRules, parents: traefikParent }]).routes[0]?.problem?.message).toContain('In rule bad:');
    expect(run(LIMITS, [{ route: twoRules, sectionName: 'good', parents: traefikParent }]).routes[0]?.problem).toBeUndefined();

    // rateLimit removed from the policy: its Middleware is gone, and a route still naming it would be disabled.
    const stale = run({ tls: { httpsOnly: true } }, [{ route: route([{ filters: names.map(ref) }]), parents: traefikParent }]);
    expect(stale.routes[0]?.problem?.message).toContain(`remove ${names[1]} (no longer generated)`);
  });

  it('says the access log is Traefik’s static configuration for a route', () => {
    const plain = run({ logging: { accessLog: true } }, [{ route: route([{}]), parents: traefikParent }]);
    expect(plain.middlewares).toEqual([]);
    expect(plain.routes[0]?.problem).toBeUndefined();
    expect(plain.fidelity.Logging?.fidelity).toBe('Delegated');
  });

  it('refuses a route whose Gateways belong to different data planes', () => {
    const out = run(LIMITS, [{ route: route([]), parents: [...traefikParent, envoyParent] }]);
    expect(out.routes[0]?.problem).toMatchObject({ reason: 'MixedDataPlanes' });
    expect(out.middlewares).toEqual([]);
    expect(out.envoyGateway).toEqual([]);
  });
});
