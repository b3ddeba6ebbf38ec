import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { generatedName } from './labels.ts';
import { renderIngressNginx } from './ingress-nginx.ts';
import { ingressClassOf, render, resolveProvider, sidecarInPath, type ProviderChoice } from './index.ts';
import { UnsafeValueError } from './sidecar-nginx.ts';
import { defaultSettings, type IngressLike, type OperatorSettings, type PolicyRef, type ServiceLike } from './types.ts';
import { policySpec, type SpecFragment } from '../../test/support/builders.ts';

const policy: PolicyRef = { name: 'shop-api', namespace: 'shop', uid: 'uid-1' };
const NGINX = 'nginx.ingress.kubernetes.io/';

const spec = (fragment: SpecFragment = {}): ApiSecurityPolicySpec => policySpec(fragment, { kind: 'Ingress', name: 'shop' });

const ingress = (name: string, cls?: { className?: string; annotation?: string }, backend = name): IngressLike => ({
  metadata: {
    name,
    namespace: 'shop',
    ...(cls?.annotation ? { annotations: { 'kubernetes.io/ingress.class': cls.annotation } } : {}),
  },
  spec: {
    ...(cls?.className ? { ingressClassName: cls.className } : {}),
    rules: [{ host: `${name}.example.com`, http: { paths: [{ path: '/', backend: { service: { name: backend } } }] } }],
  },
});

const service = (name: string, selector?: Record<string, string>): ServiceLike => ({
  metadata: { name, namespace: 'shop' },
  spec: { ...(selector ? { selector } : {}), ports: [{ port: 80, targetPort: 8080 }] },
});

describe('resolveProvider', () => {
  const custom: OperatorSettings = { ingressClasses: { 'public-nginx': 'ingress-nginx', internal: 'haproxy' }, ingressControllers: {} };

  it.each<{ name: string; provider: Parameters<typeof resolveProvider>[0]; ing: IngressLike; settings?: OperatorSettings; expected: ProviderChoice | { ok: false; reason: string } }>([
    { name: 'an explicit provider the class maps elsewhere is a mismatch', provider: 'traefik', ing: ingress('a', { className: 'nginx' }), expected: { ok: false, reason: 'ProviderMismatch' } },
    { name: 'an explicit provider on an unmapped class is taken as said', provider: 'traefik', ing: ingress('a', { className: 'edge' }), expected: { ok: true, provider: 'traefik' } },
    { name: 'explicit provider without a class', provider: 'haproxy', ing: ingress('a'), expected: { ok: true, provider: 'haproxy' } },
    { name: 'class nginx', provider: 'auto', ing: ingress('a', { className: 'nginx' }), expected: { ok: true, provider: 'ingress-nginx' } },
    { name: 'class ingress-nginx', provider: 'auto', ing: ingress('a', { className: 'ingress-nginx' }), expected: { ok: true, provider: 'ingress-nginx' } },
    { name: 'class traefik', provider: 'auto', ing: ingress('a', { className: 'traefik' }), expected: { ok: true, provider: 'traefik' } },
    { name: 'legacy annotation', provider: 'auto', ing: ingress('a', { annotation: 'haproxy' }), expected: { ok: true, provider: 'haproxy' } },
    {
      name: 'ingressClassName wins over the annotation',
      provider: 'auto',
      ing: ingress('a', { className: 'nginx', annotation: 'traefik' }),
      expected: { ok: true, provider: 'ingress-nginx' },
    },
    { name: 'custom class mapping', provider: 'auto', ing: ingress('a', { className: 'public-nginx' }), settings: custom, expected: { ok: true, provider: 'ingress-nginx' } },
    { name: 'class unknown to custom settings', provider: 'auto', ing: ingress('a', { className: 'nginx' }), settings: custom, expected: { ok: false, reason: 'UnknownIngressClass' } },
    { name: 'unknown class', provider: 'auto', ing: ingress('a', { className: 'istio' }), expected: { ok: false, reason: 'UnknownIngressClass' } },
    { name: 'no class at all', provider: 'auto', ing: ingress('a'), expected: { ok: false, reason: 'NoIngressClass' } },
  ])('$name', ({ provider, ing, settings, expected }) => {
    expect(resolveProvider(provider, ing, settings ?? defaultSettings)).toMatchObject(expected);
  });

  it('explains an unknown class with the known ones and the fix', () => {
    const choice = resolveProvider('auto', ingress('shop', { className: 'istio' }), defaultSettings);
    expect(choice).toEqual({
      ok: false,
      reason: 'UnknownIngressClass',
      message: 'Ingress class "istio" of shop maps to no data plane (known: haproxy, ingress-nginx, nginx, traefik); set spec.provider',
    });
  });

  it('explains a missing class', () => {
    expect(resolveProvider('auto', ingress('shop'), defaultSettings)).toEqual({
      ok: false,
      reason: 'NoIngressClass',
      message: 'Ingress shop has no ingressClassName; set spec.provider',
    });
  });

  it('ingressClassOf reads the field, then the annotation', () => {
    expect(ingressClassOf(ingress('a', { className: 'x', annotation: 'y' }))).toBe('x');
    expect(ingressClassOf(ingress('a', { annotation: 'y' }))).toBe('y');
    expect(ingressClassOf(ingress('a'))).toBeUndefined();
  });
});

describe('render', () => {
  const full = spec({
    tls: { httpsOnly: true, hsts: {} },
    authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'http://oauth2-proxy.auth/oauth2/auth' } },
    rateLimit: { requestsPerSecond: 20, burst: 40 },
    network: {},
  });

  it('renders an ingress-nginx Ingress with the policy marker annotation', () => {
    const out = render({ policy, spec: full, ingresses: [ingress('shop', { className: 'nginx' })], services: [service('shop', { app: 'shop' })], settings: defaultSettings });
    const expected = renderIngressNginx(full, 'shop');
    expect(out.ingresses).toEqual([
      {
        ingress: 'shop',
        plan: { ingress: 'shop', provider: 'ingress-nginx', annotations: { ...expected.annotations, 'apisec.dev/policy': 'shop-api' }, fidelity: expected.fidelity },
      },
    ]);
    expect(out.ingresses[0]?.plan?.annotations).toMatchObject({
      'apisec.dev/policy': 'shop-api',
      [`${NGINX}force-ssl-redirect`]: 'true',
      [`${NGINX}limit-rps`]: '20',
      [`${NGINX}limit-burst-multiplier`]: '2',
    });
    expect(out.networkPolicies).toHaveLength(1);
    expect(out.networkPolicies[0]?.spec.ingress?.[0]?.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } } },
    ]);
    expect(out.networkSkipped).toEqual([]);
    expect(out.fidelity).toEqual({ ...expected.fidelity, NetworkIsolation: { fidelity: 'Exact', reason: 'needs a CNI that enforces NetworkPolicy' } });
  });

  it('renders a traefik Ingress with its Middlewares, once per policy, and admits its controller in the NetworkPolicy', () => {
    const out = render({
      policy,
      spec: full,
      ingresses: [ingress('shop', { className: 'traefik' }), ingress('shop2', { className: 'traefik' })],
      services: [service('shop', { app: 'shop' })],
      settings: defaultSettings,
    });
    expect(out.ingresses.map((i) => i.plan?.provider)).toEqual(['traefik', 'traefik']);
    expect(out.ingresses[0]?.plan?.annotations['traefik.ingress.kubernetes.io/router.middlewares']).toContain('@kubernetescrd');
    expect(out.middlewares.length).toBeGreaterThan(0);
    expect(new Set(out.middlewares.map((m) => m.metadata.name)).size).toBe(out.middlewares.length);
    const c = defaultSettings.ingressControllers.traefik;
    expect(out.networkPolicies[0]?.spec.ingress?.[0]?.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c?.namespace } }, podSelector: { matchLabels: c?.podLabels } },
    ]);
  });

  it('renders a haproxy Ingress and keeps the weakest fidelity across data planes', () => {
    const out = render({
      policy,
      spec: spec({ ...full, ipAccess: { allow: ['10.0.0.0/8'] } }),
      ingresses: [ingress('a', { className: 'nginx' }), ingress('b', { className: 'haproxy' })],
      services: [],
      settings: defaultSettings,
    });
    const b = out.ingresses.find((i) => i.ingress === 'b');
    expect(b?.plan?.provider).toBe('haproxy');
    expect(b?.plan?.annotations['apisec.dev/policy']).toBe('shop-api');
    expect(b?.plan?.annotations['haproxy.org/rate-limit-status-code']).toBe('429');
    // ingress-nginx expresses IP access exactly and so does haproxy; authentication only nginx can.
    expect(out.fidelity.IPAccess?.fidelity).toBe('Exact');
    expect(out.fidelity.Authentication?.fidelity).toBe('Unsupported');
    expect(out.fidelity.Authentication?.reason).toContain('external auth');
  });

  it('reports class problems per Ingress, sorted by name, and renders the rest', () => {
    const out = render({
      policy,
      spec: full,
      ingresses: [ingress('zeta', { className: 'nginx' }), ingress('beta', { className: 'istio' }), ingress('alpha')],
      services: [],
      settings: defaultSettings,
    });
    expect(out.ingresses.map((r) => [r.ingress, r.problem?.reason ?? r.plan?.provider])).toEqual([
      ['alpha', 'NoIngressClass'],
      ['beta', 'UnknownIngressClass'],
      ['zeta', 'ingress-nginx'],
    ]);
  });

  it('an explicit provider renders Ingresses without a class', () => {
    const out = render({ policy, spec: spec({ provider: 'ingress-nginx', logging: {} }), ingresses: [ingress('shop')], services: [], settings: defaultSettings });
    expect(out.ingresses[0]?.plan?.annotations).toEqual({ [`${NGINX}enable-access-log`]: 'true', 'apisec.dev/policy': 'shop-api' });
  });

  it('merges fidelity over Ingresses, keeping the weakest note per control', () => {
    const s = spec({ authorization: { rules: [{ methods: ['GET'], paths: ['/'] }] }, rateLimit: { requestsPerMinute: 60 }, cors: { allowOrigins: ['https://a.example.com'] } });
    const out = render({
      policy,
      spec: s,
      ingresses: [ingress('a', { className: 'nginx' }), ingress('b', { className: 'haproxy' }), ingress('c', { className: 'ingress-nginx' })],
      services: [],
      settings: defaultSettings,
    });
    expect(out.fidelity).toEqual({
      Authorization: { fidelity: 'Unsupported', reason: expect.any(String), unenforced: [expect.stringContaining('1 allow rule(s)')] },
      RateLimit: { fidelity: 'Approximated', reason: expect.any(String) },
      CORS: { fidelity: 'Exact' },
    });
    // ingress-nginx alone approximates authorization through its auth endpoint... here without one: Unsupported.
    expect(out.ingresses.find((x) => x.ingress === 'a')?.plan?.fidelity.Authorization?.fidelity).toBe('Unsupported');
  });

  it('NetworkIsolation is Approximated when a Service cannot be isolated', () => {
    const out = render({
      policy,
      spec: full,
      ingresses: [ingress('shop', { className: 'nginx' })],
      services: [service('shop', { app: 'shop' }), service('legacy'), service('external')],
      settings: defaultSettings,
    });
    expect(out.networkSkipped.map((s) => s.service)).toEqual(['external', 'legacy']);
    expect(out.networkPolicies.map((n) => n.metadata.name)).toEqual([generatedName(policy, 'shop')]);
    expect(out.fidelity.NetworkIsolation).toEqual({ fidelity: 'Approximated', reason: 'not isolable: external, legacy' });
  });

  it.each([
    { name: 'defaultDeny false', fragment: { network: { defaultDeny: false } } },
    { name: 'no network section', fragment: {} },
  ])('$name → no NetworkPolicy and no NetworkIsolation fidelity', ({ fragment }) => {
    const out = render({ policy, spec: spec(fragment), ingresses: [ingress('shop', { className: 'nginx' })], services: [service('shop', { app: 'shop' })], settings: defaultSettings });
    expect(out.networkPolicies).toEqual([]);
    expect(out.networkSkipped).toEqual([]);
    expect(out.fidelity.NetworkIsolation).toBeUndefined();
  });

  it('without resolvable Ingresses, admits every configured controller', () => {
    const out = render({ policy, spec: spec({ network: {} }), ingresses: [], services: [service('shop', { app: 'shop' })], settings: defaultSettings });
    expect(out.ingresses).toEqual([]);
    expect(out.networkPolicies[0]?.spec.ingress?.[0]?.from).toHaveLength(3);
  });

  it('does not mutate its input', () => {
    const ingresses = [ingress('b', { className: 'nginx' }), ingress('a', { className: 'nginx' })];
    const services = [service('z', { app: 'z' }), service('y', { app: 'y' })];
    const before = JSON.stringify({ full, ingresses, services });
    render({ policy, spec: full, ingresses, services, settings: defaultSettings });
    expect(JSON.stringify({ full, ingresses, services })).toBe(before);
  });
});

describe('what the request path can vouch for', () => {
  it('refuses a data plane the baselines do not allow', () => {
    expect(resolveProvider('auto', ingress('a', { className: 'traefik' }), defaultSettings, ['ingress-nginx'])).toMatchObject({ ok: false, reason: 'ProviderNotAllowed' });
    expect(resolveProvider('auto', ingress('a', { className: 'nginx' }), defaultSettings, ['ingress-nginx'])).toEqual({ ok: true, provider: 'ingress-nginx' });
  });

  it.each<[string, ServiceLike[], boolean]>([
    ['every port sends traffic to the sidecar', [{ metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 8080 }] } }], true],
    ['a port that bypasses it', [{ metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 81, targetPort: 3000 }] } }], false],
    ['a named port cannot be checked', [{ metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 'http' }] } }], false],
    ['no Service', [], false],
  ])('sidecarInPath: %s', (_name, services, inPath) => {
    expect(sidecarInPath(spec({ sidecar: { port: 8080, appPort: 3000 } }), services).inPath).toBe(inPath);
  });

  it('sidecarInPath: a named port is in the path where the webhook moved it to the sidecar in every pod behind the Service', () => {
    const named: ServiceLike[] = [{ metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 'http' }, { port: 81, targetPort: 8080 }] } }];
    const asked: string[] = [];
    const served = (svc: ServiceLike, name: string): boolean => (asked.push(`${svc.metadata.name}/${name}`), name === 'http');
    expect(sidecarInPath(spec({ sidecar: { port: 8080 } }), named, served)).toEqual({ inPath: true });
    expect(asked).toEqual(['s/http']);
    expect(sidecarInPath(spec({ sidecar: { port: 8080 } }), named, () => false)).toMatchObject({ inPath: false, reason: expect.stringContaining('targets the named port http') });
  });

  it('a bypassed sidecar does not lend its fidelity; a Service target without one enforces nothing but isolation', () => {
    const s = { ...spec({ requestLimits: { maxBodySize: '1Mi' }, network: {}, sidecar: { port: 8443, appPort: 3000 } }), targetRefs: [{ group: '' as const, kind: 'Service' as const, name: 'shop' }] };
    const bypassed = render({ policy, spec: s, ingresses: [], services: [service('shop', { app: 'shop' })], settings: defaultSettings });
    expect(bypassed.sidecar).toMatchObject({ inPath: false });
    expect(bypassed.fidelity.RequestLimits).toMatchObject({ fidelity: 'Unsupported' });
    expect(bypassed.fidelity.RequestLimits?.reason).toContain('past the sidecar');
    // The status names the manual wiring, exactly.
    expect(bypassed.sidecar?.reason).toBe(
      `Service shop port 80 sends traffic to 8080, past the sidecar's port 8443: manual wiring needed, set its targetPort to 8443: kubectl patch service shop --type=json -p '[{"op":"replace","path":"/spec/ports/0/targetPort","value":8443}]'`,
    );
    expect(bypassed.fidelity.NetworkIsolation?.fidelity).toBe('Exact');
    const svc: ServiceLike = { metadata: { name: 'shop', namespace: 'shop' }, spec: { selector: { app: 'shop' }, ports: [{ port: 80, targetPort: 8443 }] } };
    const through = render({ policy, spec: s, ingresses: [], services: [svc], settings: defaultSettings });
    expect(through.fidelity.RequestLimits).toMatchObject({ fidelity: 'Exact' });
  });

  it('refuses at render time what a data plane would refuse (defence behind the schema)', () => {
    const s = spec({ requestLimits: { maxBodySize: '1Mi' } });
    const huge = { ...s, requestLimits: { maxBodySize: '9999999999Gi' } };
    expect(() => render({ policy, spec: huge, ingresses: [], services: [], settings: defaultSettings })).toThrow(UnsafeValueError);
    const conns = { ...s, rateLimit: { requestsPerSecond: 1, key: 'ClientIP' as const, scope: 'Local' as const, maxConnections: 100000 } };
    expect(() => render({ policy, spec: conns, ingresses: [], services: [], settings: defaultSettings })).toThrow(UnsafeValueError);
  });

  it('escapes and clips an ingress class from the Ingress (anyone\'s text) in its message', () => {
    const choice = resolveProvider('auto', ingress('a', { annotation: `\u001b]0;pwned\u0007${'x'.repeat(300_000)}` }), defaultSettings);
    expect(choice.ok).toBe(false);
    const message = choice.ok ? '' : choice.message;
    expect([...message].some((c) => c.charCodeAt(0) < 0x20)).toBe(false);
    expect(message).toContain('\\u001b]0;pwned\\u0007');
    expect(message.length).toBeLessThan(600);
  });
});
