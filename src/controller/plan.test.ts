// Table tests of the plan: what a policy reconcile writes, releases and calls drift, from the caches alone.
import { Resources, type KubeObject } from '../k8s/resources.ts';
import { ingressObject } from '../../test/support/builders.ts';
import { planWrites, type OwnedResource, type PlanInput } from './plan.ts';

const OWNED_BY_US = (keys: string[]): KubeObject['metadata']['managedFields'] => [
  { manager: 'api-security-operator', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': Object.fromEntries(keys.map((k) => [`f:${k}`, {}])) } } },
];
const WANT = { 'apisec.dev/policy': 'p', 'nginx.ingress.kubernetes.io/limit-rps': '5' };
const applied = (annotations: Record<string, string>, by = Object.keys(annotations)): KubeObject => {
  const ing = ingressObject('web', { annotations });
  ing.metadata.managedFields = OWNED_BY_US(by);
  return ing;
};
const np = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'ns' }, spec });

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    policy: 'p',
    namespace: 'ns',
    mode: 'Enforce',
    rendered: { ingresses: [{ ingress: 'web', plan: { provider: 'ingress-nginx', annotations: WANT } }] } as unknown as PlanInput['rendered'],
    won: new Set(['web']),
    ingresses: [ingressObject('web')],
    desiredOwned: [],
    existing: new Map<OwnedResource, KubeObject[]>([[Resources.networkPolicy, []]]),
    traefikServed: true,
    behind: () => false,
    ...over,
  };
}

const summary = (i: PlanInput) => {
  const p = planWrites(i);
  return {
    ingress: p.ingress.map((x) => `${x.name}:${Object.keys(x.want).length}`),
    apply: p.apply.map((a) => `${a.existed ? 'update' : 'create'} ${a.obj.metadata.name}`),
    remove: p.remove.map((r) => r.obj.metadata.name),
    drift: p.drift.map((d) => `${d.object} ${d.field}`),
    waiting: p.waiting,
    blocked: p.blocked.length,
  };
};

describe('HTTPRoute markers', () => {
  const route = (annotations?: Record<string, string>, owner = 'api-security-operator'): KubeObject => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: {
      name: 'r',
      namespace: 'ns',
      ...(annotations ? { annotations, managedFields: [{ manager: owner, operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': Object.fromEntries(Object.keys(annotations).map((k) => [`f:${k}`, {}])) } } }] } : {}),
    },
  });
  const markers = (over: Partial<PlanInput>): string[] => planWrites(input({ won: new Set(), rendered: { ingresses: [] } as unknown as PlanInput['rendered'], ingresses: [], ...over })).route.map((r) => `${r.name}:${JSON.stringify(r.want)}`);

  it.each<[string, Partial<PlanInput>, string[]]>([
    ['a won route gets the marker', { routes: [route()], wonRoutes: new Set(['r']) }, ['r:{"apisec.dev/policy":"p"}']],
    ['a route that already carries it: nothing', { routes: [route({ 'apisec.dev/policy': 'p' })], wonRoutes: new Set(['r']) }, []],
    ['a route no longer won is released', { routes: [route({ 'apisec.dev/policy': 'p' })], wonRoutes: new Set() }, ['r:{}']],
    ['Audit mode releases it', { mode: 'Audit', routes: [route({ 'apisec.dev/policy': 'p' })], wonRoutes: new Set(['r']) }, ['r:{}']],
    ['another manager’s marker is never taken over', { routes: [route({ 'apisec.dev/policy': 'other' }, 'kubectl')], wonRoutes: new Set(['r']) }, []],
    ['another policy’s marker is not released', { routes: [route({ 'apisec.dev/policy': 'other' })], wonRoutes: new Set() }, []],
  ])('%s', (_n, over, want) => {
    expect(markers(over)).toEqual(want);
  });

  it('changes the digest only for policies with route targets', () => {
    expect(planWrites(input()).digest).toBe(planWrites(input({ routes: [route()], wonRoutes: new Set() })).digest);
    expect(planWrites(input()).digest).not.toBe(planWrites(input({ routes: [route()], wonRoutes: new Set(['r']) })).digest);
  });
});

describe('planWrites', () => {
  it.each<[string, Partial<PlanInput>, ReturnType<typeof summary>]>([
    ['a fresh Ingress gets the annotation set', {}, { ingress: ['web:2'], apply: [], remove: [], drift: ['Ingress/web annotation apisec.dev/policy (removed)', 'Ingress/web annotation nginx.ingress.kubernetes.io/limit-rps (removed)'], waiting: false, blocked: 0 }],
    ['an Ingress that already carries exactly our set: nothing', { ingresses: [applied(WANT)] }, { ingress: [], apply: [], remove: [], drift: [], waiting: false, blocked: 0 }],
    [
      'a value changed by someone else is planned and named as drift',
      { ingresses: [applied({ ...WANT, 'nginx.ingress.kubernetes.io/limit-rps': '500' })] },
      { ingress: ['web:2'], apply: [], remove: [], drift: ['Ingress/web annotation nginx.ingress.kubernetes.io/limit-rps'], waiting: false, blocked: 0 },
    ],
    [
      'we own a key no longer wanted: the apply drops it',
      { ingresses: [applied({ ...WANT, 'nginx.ingress.kubernetes.io/cors-allow-origin': 'x' })] },
      { ingress: ['web:2'], apply: [], remove: [], drift: [], waiting: false, blocked: 0 },
    ],
    ['Audit mode releases what Enforce wrote', { mode: 'Audit', ingresses: [applied(WANT)] }, { ingress: ['web:0'], apply: [], remove: [], drift: [], waiting: false, blocked: 0 }],
    ['a lost Ingress still marked by this policy is released', { won: new Set(), rendered: { ingresses: [] } as unknown as PlanInput['rendered'], ingresses: [applied(WANT)] }, { ingress: ['web:0'], apply: [], remove: [], drift: [], waiting: false, blocked: 0 }],
    [
      'an Ingress marked by this policy but with no key of ours is left alone',
      { won: new Set(), ingresses: [applied(WANT, [])] },
      { ingress: [], apply: [], remove: [], drift: [], waiting: false, blocked: 0 },
    ],
    ['the cache is behind our own last write: wait, plan nothing', { behind: () => true }, { ingress: [], apply: [], remove: [], drift: [], waiting: true, blocked: 0 }],
    [
      'Traefik Ingress without the Middleware CRD: blocked, nothing written',
      { traefikServed: false, rendered: { ingresses: [{ ingress: 'web', plan: { provider: 'traefik', annotations: WANT } }] } as unknown as PlanInput['rendered'] },
      { ingress: [], apply: [], remove: [], drift: [], waiting: false, blocked: 1 },
    ],
    [
      'owned objects: create the missing, update the changed, delete the unwanted',
      {
        ingresses: [applied(WANT)],
        desiredOwned: [np('a', { podSelector: { x: '1' } }), np('b', { podSelector: { x: '2' } })],
        existing: new Map<OwnedResource, KubeObject[]>([[Resources.networkPolicy, [np('b', { podSelector: { x: 'other' } }), np('c', {})]]]),
      },
      { ingress: [], apply: ['create a', 'update b'], remove: ['c'], drift: ['NetworkPolicy/a deleted', 'NetworkPolicy/b spec', 'NetworkPolicy/c created outside the operator with its labels'], waiting: false, blocked: 0 },
    ],
    [
      'an unwanted object we already deleted, still in the cache: wait, neither a second delete nor drift',
      {
        ingresses: [applied(WANT)],
        existing: new Map<OwnedResource, KubeObject[]>([[Resources.networkPolicy, [np('c', {})]]]),
        behind: (key) => key === 'NetworkPolicy/ns/c',
      },
      { ingress: [], apply: [], remove: [], drift: [], waiting: true, blocked: 0 },
    ],
    [
      'an owned object the server added defaults to is still a subset: nothing',
      {
        ingresses: [applied(WANT)],
        desiredOwned: [np('a', { podSelector: { x: '1' } })],
        existing: new Map<OwnedResource, KubeObject[]>([[Resources.networkPolicy, [np('a', { podSelector: { x: '1' }, policyTypes: ['Ingress'] })]]]),
      },
      { ingress: [], apply: [], remove: [], drift: [], waiting: false, blocked: 0 },
    ],
  ])('%s', (_name, over, want) => {
    expect(summary(input(over))).toEqual(want);
  });

  it('the digest depends on what is desired, not on cache state or order', () => {
    const a = planWrites(input()).digest;
    expect(planWrites(input({ ingresses: [applied(WANT)] })).digest).toBe(a);
    expect(planWrites(input({ mode: 'Audit' })).digest).not.toBe(a);
    expect(planWrites(input({ desiredOwned: [np('a', {})] })).digest).not.toBe(a);
  });
});
