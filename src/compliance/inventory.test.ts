import type { IngressLike, ServiceLike } from '../render/types.ts';
import { apiInventory, ingressHosts, ingressPaths, uncoveredOf, type ApiEntry, type InventoryInput, type InventoryPolicy } from './inventory.ts';

const ing = (ns: string, name: string, backends: string[] = [name], host?: string, paths: string[] = ['/']): IngressLike => ({
  metadata: { name, namespace: ns },
  spec: {
    rules: [{ ...(host ? { host } : {}), http: { paths: backends.map((b, i) => ({ path: paths[i] ?? paths[0], backend: { service: { name: b } } })) } }],
  },
});
const svc = (ns: string, name: string, type?: string): ServiceLike => ({ metadata: { name, namespace: ns }, spec: { ...(type ? { type } : {}) } });
const pol = (ns: string, name: string, refs: [string, string][], over: Partial<InventoryPolicy['metadata']> = {}): InventoryPolicy => ({
  metadata: { name, namespace: ns, ...over },
  spec: { targetRefs: refs.map(([kind, n]) => ({ group: kind === 'Ingress' ? 'networking.k8s.io' : '', kind, name: n })) },
});
const brief = (e: ApiEntry): string => `${e.namespace}/${e.kind}/${e.name}:${e.coverage}${e.policy ? `:${e.policy}` : ''}${e.baseline ? `:${e.baseline}` : ''}`;
const run = (over: Partial<InventoryInput>): ApiEntry[] => apiInventory({ policies: [], ingresses: [], services: [], ...over });

describe('apiInventory', () => {
  it('lists every Ingress and every LoadBalancer/NodePort Service, never a ClusterIP Service', () => {
    const out = run({
      ingresses: [ing('a', 'web', ['web'], 'web.example.com', ['/v1'])],
      services: [svc('a', 'internal'), svc('a', 'explicit', 'ClusterIP'), svc('a', 'lb', 'LoadBalancer'), svc('a', 'np', 'NodePort'), svc('a', 'ext', 'ExternalName')],
    });
    expect(out).toEqual([
      { kind: 'Ingress', namespace: 'a', name: 'web', hosts: ['web.example.com'], paths: ['/v1'], coverage: 'none' },
      { kind: 'Service', namespace: 'a', name: 'lb', serviceType: 'LoadBalancer', coverage: 'none' },
      { kind: 'Service', namespace: 'a', name: 'np', serviceType: 'NodePort', coverage: 'none' },
    ]);
  });

  it('lists HTTPRoutes: covered when a policy targets them (and so is a Service behind one), else uncovered', () => {
    const route = (name: string, backend: string, hostnames?: string[]) => ({ metadata: { name, namespace: 'a' }, spec: { ...(hostnames ? { hostnames } : {}), rules: [{ backendRefs: [{ name: backend, port: 80 }] }] } });
    const p = { metadata: { name: 'p', namespace: 'a' }, spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'shop' }] } };
    const out = run({ policies: [p], routes: [route('shop', 'shop-svc', ['shop.example.com']), route('shadow', 'other')], services: [svc('a', 'shop-svc', 'LoadBalancer'), svc('a', 'other', 'LoadBalancer')] });
    expect(out.map(brief)).toEqual(['a/HTTPRoute/shadow:none', 'a/HTTPRoute/shop:policy:p', 'a/Service/other:none', 'a/Service/shop-svc:policy:p']);
    expect(out.find((e) => e.name === 'shop')?.hosts).toEqual(['shop.example.com']);
    expect(out.find((e) => e.name === 'shadow')?.hosts).toEqual(['*']);
  });

  it('covers a target directly, and a Service behind a covered Ingress; not one behind an uncovered Ingress', () => {
    const out = run({
      policies: [pol('a', 'p', [['Ingress', 'web'], ['Service', 'direct']])],
      ingresses: [ing('a', 'web', ['behind']), ing('a', 'open', ['other'])],
      services: [svc('a', 'behind', 'LoadBalancer'), svc('a', 'direct', 'NodePort'), svc('a', 'other', 'NodePort')],
    });
    expect(out.map(brief)).toEqual(['a/Ingress/open:none', 'a/Ingress/web:policy:p', 'a/Service/behind:policy:p', 'a/Service/direct:policy:p', 'a/Service/other:none']);
  });

  it('matches targets in the policy\'s own namespace only', () => {
    const out = run({ policies: [pol('b', 'p', [['Ingress', 'web'], ['Service', 'lb']])], ingresses: [ing('a', 'web', ['lb'])], services: [svc('a', 'lb', 'LoadBalancer')] });
    expect(out.map(brief)).toEqual(['a/Ingress/web:none', 'a/Service/lb:none']);
  });

  it('ignores policies being deleted', () => {
    const out = run({ policies: [pol('a', 'p', [['Ingress', 'web']], { deletionTimestamp: '2026-01-01T00:00:00Z' })], ingresses: [ing('a', 'web')] });
    expect(out.map(brief)).toEqual(['a/Ingress/web:none']);
  });

  it('names the oldest policy (then the first by name) when several cover an API, like conflict resolution', () => {
    const policies = [
      pol('a', 'young', [['Ingress', 'web']], { creationTimestamp: '2026-02-01T00:00:00Z' }),
      pol('a', 'old-b', [['Ingress', 'web']], { creationTimestamp: '2026-01-01T00:00:00Z' }),
      pol('a', 'old-a', [['Ingress', 'web']], { creationTimestamp: '2026-01-01T00:00:00Z' }),
    ];
    expect(run({ policies, ingresses: [ing('a', 'web')] }).map(brief)).toEqual(['a/Ingress/web:policy:old-a']);
    expect(run({ policies: [...policies].reverse(), ingresses: [ing('a', 'web')] }).map(brief)).toEqual(['a/Ingress/web:policy:old-a']);
  });

  it('prefers a direct target over a covering Ingress for a Service', () => {
    const out = run({
      policies: [pol('a', 'by-ingress', [['Ingress', 'web']], { creationTimestamp: '2026-01-01T00:00:00Z' }), pol('a', 'direct', [['Service', 'api']], { creationTimestamp: '2026-03-01T00:00:00Z' })],
      ingresses: [ing('a', 'web', ['api'])],
      services: [svc('a', 'api', 'LoadBalancer')],
    });
    expect(out.map(brief)).toContain('a/Service/api:policy:direct');
  });

  it('a baseline covers nothing by itself, and is named on every API of the namespaces it selects', () => {
    const calls: string[] = [];
    const baselineFor = (ns: string): string | undefined => (calls.push(ns), ns === 'a' ? 'org-baseline' : undefined);
    const out = run({
      baselineFor,
      policies: [pol('a', 'p', [['Ingress', 'covered']])],
      ingresses: [ing('a', 'covered'), ing('a', 'open'), ing('b', 'open')],
      services: [svc('a', 'lb', 'LoadBalancer'), svc('b', 'lb', 'LoadBalancer')],
    });
    expect(out.map(brief)).toEqual([
      'a/Ingress/covered:policy:p:org-baseline',
      'a/Ingress/open:none:org-baseline',
      'a/Service/lb:none:org-baseline',
      'b/Ingress/open:none',
      'b/Service/lb:none',
    ]);
    expect(uncoveredOf(out).map(brief)).toEqual(['a/Ingress/open:none:org-baseline', 'a/Service/lb:none:org-baseline', 'b/Ingress/open:none', 'b/Service/lb:none']);
    expect(calls.sort()).toEqual(['a', 'b']); // asked once per namespace
  });

  it('tolerates raw specs, and an invalid one covers nothing: no targetRefs, junk entries, unknown kinds', () => {
    const policies: InventoryPolicy[] = [
      { metadata: { name: 'none', namespace: 'a' } },
      { metadata: { name: 'junk', namespace: 'a' }, spec: { targetRefs: [null, 7, { kind: 'Gateway', name: 'web' }, { kind: 'Ingress' }, { kind: 'Ingress', name: 'web' }, { kind: 'Ingress', name: 'web' }] } },
      { metadata: { name: 'not-a-list', namespace: 'a' }, spec: { targetRefs: 'web' } },
    ];
    expect(run({ policies, ingresses: [ing('a', 'web'), ing('a', 'other')] }).map(brief)).toEqual(['a/Ingress/other:none', 'a/Ingress/web:none']);
  });

  it('a valid policy listing a target twice covers it once', () => {
    const ref = { group: 'networking.k8s.io', kind: 'Ingress', name: 'web' };
    const policies: InventoryPolicy[] = [{ metadata: { name: 'twice', namespace: 'a' }, spec: { targetRefs: [ref, ref] } }];
    expect(run({ policies, ingresses: [ing('a', 'web')] }).map(brief)).toEqual(['a/Ingress/web:policy:twice']);
  });

  it('sorts by namespace, kind and name, whatever the input order', () => {
    const ingresses = [ing('b', 'z'), ing('a', 'y'), ing('a', 'a-b'), ing('a', 'a.b'), ing('a', 'a1')];
    const services = [svc('a', 'b', 'NodePort'), svc('0', 'x', 'LoadBalancer')];
    const out = run({ ingresses, services });
    expect(out.map(brief)).toEqual(['0/Service/x:none', 'a/Ingress/a-b:none', 'a/Ingress/a.b:none', 'a/Ingress/a1:none', 'a/Ingress/y:none', 'a/Service/b:none', 'b/Ingress/z:none']);
    expect(run({ ingresses: [...ingresses].reverse(), services: [...services].reverse() })).toEqual(out);
  });
});

describe('ingress hosts and paths', () => {
  it('lists each once in order, with * and / for what is left out', () => {
    const multi: IngressLike = {
      metadata: { name: 'm', namespace: 'a' },
      spec: {
        rules: [
          { host: 'b.example.com', http: { paths: [{ path: '/v2' }, { path: '/v1' }] } },
          { host: 'a.example.com', http: { paths: [{ path: '/v1' }] } },
          { host: 'b.example.com' },
          { http: { paths: [{}] } },
        ],
      },
    };
    expect(ingressHosts(multi)).toEqual(['b.example.com', 'a.example.com', '*']);
    expect(ingressPaths(multi)).toEqual(['/v2', '/v1', '/']);
    const defaultOnly: IngressLike = { metadata: { name: 'd', namespace: 'a' }, spec: { defaultBackend: { service: { name: 'x' } } } };
    expect(ingressHosts(defaultOnly)).toEqual(['*']);
    expect(ingressPaths(defaultOnly)).toEqual(['/']);
  });
});
