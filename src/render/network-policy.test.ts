import type { ApiSecurityPolicySpec} from '../api/v1alpha1.ts';
import { type ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { generatedName } from './labels.ts';
import { backendServices, renderNetworkPolicies, type NetworkPolicyObject } from './network-policy.ts';
import { defaultSettings, type IngressLike, type PolicyRef, type Provider, type ServiceLike, type ServicePort } from './types.ts';
import { policySpec } from '../../test/support/builders.ts';

type Network = ApiSecurityPolicySpecInput['network'];
type Peer = NonNullable<NonNullable<Network>['allowFrom']>[number];

const policy: PolicyRef = { name: 'shop-api', namespace: 'shop', uid: '6f0c3c1e-2b7a-4c55-9a4e-0d6b1f2a9e11' };

const spec = (network: Network): ApiSecurityPolicySpec => policySpec({ network }, { kind: 'Service', name: 'shop' });

const svc = (name: string, selector: Record<string, string> | undefined, ports: ServicePort[] = [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }]): ServiceLike => ({
  metadata: { name, namespace: 'shop' },
  spec: { type: 'ClusterIP', ...(selector ? { selector } : {}), ports },
});

const nginxPeer = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
  podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
};
const traefikPeer = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'traefik' } },
  podSelector: { matchLabels: { 'app.kubernetes.io/name': 'traefik' } },
};
const haproxyPeer = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'haproxy-controller' } },
  podSelector: { matchLabels: { 'app.kubernetes.io/name': 'kubernetes-ingress' } },
};

const render = (network: Network, services: ServiceLike[], providers: Provider[] = ['ingress-nginx']) =>
  renderNetworkPolicies(policy, spec(network), services, { providers, settings: defaultSettings });

describe('renderNetworkPolicies', () => {
  it('renders a default-deny NetworkPolicy that admits only the ingress controller (full object)', () => {
    const plan = render({}, [svc('shop', { app: 'shop', tier: 'api' })]);
    const expected: NetworkPolicyObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: generatedName(policy, 'shop'),
        namespace: 'shop',
        labels: { 'app.kubernetes.io/managed-by': 'api-security-operator', 'apisec.dev/policy': 'shop-api' },
        ownerReferences: [
          { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'shop-api', uid: '6f0c3c1e-2b7a-4c55-9a4e-0d6b1f2a9e11', controller: true },
        ],
      },
      spec: {
        podSelector: { matchLabels: { app: 'shop', tier: 'api' } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
                podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
              },
            ],
            ports: [{ protocol: 'TCP', port: 8080 }],
          },
        ],
      },
    };
    expect(plan).toEqual({ objects: [expected], skipped: [] });
  });

  it('renders every declared kind of caller (full object)', () => {
    const plan = render(
      {
        allowFrom: [
          { ingressController: true },
          { namespaceSelector: { matchLabels: { team: 'payments' } }, podSelector: { matchLabels: { app: 'checkout' } } },
          { namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }] } },
          { podSelector: { matchLabels: { role: 'monitoring' } } },
          { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
          { ipBlock: { cidr: '2001:db8::/32' } },
        ],
      },
      [svc('shop', { app: 'shop' }, [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090, targetPort: 9090, protocol: 'TCP' }])],
      ['traefik'],
    );
    expect(plan.skipped).toEqual([]);
    expect(plan.objects).toHaveLength(1);
    expect(plan.objects[0]?.spec).toEqual({
      podSelector: { matchLabels: { app: 'shop' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            traefikPeer,
            { namespaceSelector: { matchLabels: { team: 'payments' } }, podSelector: { matchLabels: { app: 'checkout' } } },
            { namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }] } },
            { podSelector: { matchLabels: { role: 'monitoring' } } },
            { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
            { ipBlock: { cidr: '2001:db8::/32' } },
          ],
          // A named targetPort is kept as is; protocol defaults to TCP.
          ports: [
            { protocol: 'TCP', port: 'http' },
            { protocol: 'TCP', port: 9090 },
          ],
        },
      ],
    });
  });

  it.each<{ name: string; providers: Provider[]; from: unknown[] }>([
    { name: 'the resolved provider', providers: ['ingress-nginx'], from: [nginxPeer] },
    { name: 'each resolved provider once, sorted', providers: ['traefik', 'ingress-nginx', 'traefik'], from: [nginxPeer, traefikPeer] },
    { name: 'every configured controller when none is resolved', providers: [], from: [haproxyPeer, nginxPeer, traefikPeer] },
  ])('ingressController peers: $name', ({ providers, from }) => {
    const plan = render({ allowFrom: [{ ingressController: true }] }, [svc('shop', { app: 'shop' })], providers);
    expect(plan.objects[0]?.spec.ingress).toEqual([{ from, ports: [{ protocol: 'TCP', port: 8080 }] }]);
  });

  it('a provider without a configured controller adds no peer', () => {
    const plan = renderNetworkPolicies(policy, spec({}), [svc('shop', { app: 'shop' })], { providers: ['traefik'], settings: {
      ingressClasses: {},
      ingressControllers: { 'ingress-nginx': defaultSettings.ingressControllers['ingress-nginx'] },
    } });
    expect(plan.objects[0]?.spec.ingress).toBeUndefined();
  });

  it.each<{ name: string; peer: Peer; from: unknown }>([
    { name: 'empty namespaceSelector selects all namespaces', peer: { namespaceSelector: {} }, from: { namespaceSelector: {} } },
    { name: 'empty matchLabels are dropped', peer: { podSelector: { matchLabels: {}, matchExpressions: [] } }, from: { podSelector: {} } },
    {
      name: 'matchExpressions are kept',
      peer: { podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } },
      from: { podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } },
    },
    { name: 'ipBlock with empty except', peer: { ipBlock: { cidr: '192.168.0.0/16', except: [] } }, from: { ipBlock: { cidr: '192.168.0.0/16' } } },
  ])('peer: $name', ({ peer, from }) => {
    const plan = render({ allowFrom: [peer] }, [svc('shop', { app: 'shop' })]);
    expect(plan.objects[0]?.spec.ingress?.[0]?.from).toEqual([from]);
  });

  it('ipBlock is its own peer, never combined with selectors', () => {
    const plan = render({ allowFrom: [{ podSelector: { matchLabels: { a: 'b' } }, ipBlock: { cidr: '10.0.0.0/8' } }] }, [svc('shop', { app: 'shop' })]);
    expect(plan.objects[0]?.spec.ingress?.[0]?.from).toEqual([{ podSelector: { matchLabels: { a: 'b' } } }, { ipBlock: { cidr: '10.0.0.0/8' } }]);
  });

  it('no callers → an empty ingress list (deny all)', () => {
    const plan = render({ allowFrom: [] }, [svc('shop', { app: 'shop' })]);
    expect(plan.objects[0]?.spec.ingress).toBeUndefined();
    expect(plan.objects[0]?.spec.policyTypes).toEqual(['Ingress']);
  });

  it.each([
    { name: 'without selector', service: svc('external-db', undefined) },
    { name: 'with an empty selector', service: svc('external-db', {}) },
  ])('skips a Service $name, with a reason', ({ service }) => {
    const plan = render({}, [service, svc('shop', { app: 'shop' })]);
    expect(plan.skipped).toEqual([{ service: 'external-db', reason: expect.stringContaining('no selector') }]);
    expect(plan.objects.map((o) => o.metadata.name)).toEqual([generatedName(policy, 'shop')]);
  });

  it('keeps the port when there is no targetPort, and the protocol', () => {
    const plan = render({}, [svc('dns', { app: 'dns' }, [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }])]);
    expect(plan.objects[0]?.spec.ingress?.[0]?.ports).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
  });

  it('one NetworkPolicy per Service, sorted by Service name', () => {
    const plan = render({}, [svc('zeta', { app: 'zeta' }), svc('alpha', { app: 'alpha' })]);
    expect(plan.objects.map((o) => [o.metadata.name, o.spec.podSelector])).toEqual([
      [generatedName(policy, 'alpha'), { matchLabels: { app: 'alpha' } }],
      [generatedName(policy, 'zeta'), { matchLabels: { app: 'zeta' } }],
    ]);
  });

  it('shortens long names to a valid object name, uniquely', () => {
    const long = 'a'.repeat(200);
    const plan = render({}, [svc(`${long}-1`, { app: '1' }), svc(`${long}-2`, { app: '2' })]);
    const names = plan.objects.map((o) => o.metadata.name);
    for (const n of names) {
      expect(n.length).toBeLessThanOrEqual(63);
      expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(new Set(names).size).toBe(2);
  });

  it('never gives two policies the same name, however their names and Services combine (a + b-c, a-b + c)', () => {
    const a = renderNetworkPolicies({ name: 'a', namespace: 'shop', uid: 'uid-a' }, spec({}), [svc('b-c', { app: 'x' })], { providers: [], settings: defaultSettings });
    const ab = renderNetworkPolicies({ name: 'a-b', namespace: 'shop', uid: 'uid-ab' }, spec({}), [svc('c', { app: 'x' })], { providers: [], settings: defaultSettings });
    expect(a.objects[0]?.metadata.name).not.toBe(ab.objects[0]?.metadata.name);
    expect(a.objects[0]?.metadata.name).toMatch(/^apisec-a-b-c-[0-9a-f]{10}$/);
    // A re-created policy (new UID) gets new names: nothing another tenant saw before still applies.
    const again = renderNetworkPolicies({ name: 'a', namespace: 'shop', uid: 'uid-a2' }, spec({}), [svc('b-c', { app: 'x' })], { providers: [], settings: defaultSettings });
    expect(again.objects[0]?.metadata.name).not.toBe(a.objects[0]?.metadata.name);
  });

  it.each([
    { name: 'defaultDeny false', network: { defaultDeny: false } },
    { name: 'no network section', network: undefined },
  ])('$name → no objects', ({ network }) => {
    expect(render(network, [svc('shop', { app: 'shop' }), svc('external', undefined)])).toEqual({ objects: [], skipped: [] });
  });
});

describe('backendServices', () => {
  const ing = (name: string, spec: IngressLike['spec']): IngressLike => ({ metadata: { name, namespace: 'shop' }, spec });

  it.each<{ name: string; ingresses: IngressLike[]; expected: string[] }>([
    { name: 'no ingresses', ingresses: [], expected: [] },
    { name: 'an ingress without spec', ingresses: [ing('a', undefined)], expected: [] },
    {
      name: 'default backend and rule backends, deduplicated and sorted',
      ingresses: [
        ing('a', {
          defaultBackend: { service: { name: 'web' } },
          rules: [
            { host: 'a.example.com', http: { paths: [{ path: '/api', backend: { service: { name: 'api' } } }, { path: '/', backend: { service: { name: 'web' } } }] } },
            { host: 'b.example.com' },
          ],
        }),
        ing('b', { rules: [{ http: { paths: [{ path: '/x', backend: {} }, { path: '/y', backend: { service: { name: 'billing' } } }] } }] }),
      ],
      expected: ['api', 'billing', 'web'],
    },
  ])('$name', ({ ingresses, expected }) => {
    expect(backendServices(ingresses)).toEqual(expected);
  });
});
