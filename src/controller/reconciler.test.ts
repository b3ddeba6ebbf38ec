// The reconciler's error taxonomy, with in-memory caches and recorded actions (the behaviour against a
// real API server is covered by test/integration/controller.test.ts).
import { pino } from 'pino';
import { ApiError } from '../k8s/errors.ts';
import type { KubeObject } from '../k8s/resources.ts';
import { generatedName } from '../render/labels.ts';
import { defaultSettings } from '../render/types.ts';
import { FINALIZER, PolicyReconciler, type Actions, type Caches, type Store } from './reconciler.ts';

const log = pino({ level: 'silent' });

function store<T extends KubeObject>(items: T[]): Store<T> {
  return {
    get: (key) => items.find((i) => `${i.metadata.namespace}/${i.metadata.name}` === key),
    list: (ns) => items.filter((i) => ns === undefined || i.metadata.namespace === ns),
  };
}

const policy = (spec: Record<string, unknown>, extra: Partial<KubeObject['metadata']> = {}): KubeObject =>
  ({
    apiVersion: 'apisec.dev/v1alpha1',
    kind: 'ApiSecurityPolicy',
    metadata: { name: 'p', namespace: 'ns', uid: 'u1', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z', finalizers: [FINALIZER], ...extra },
    spec,
  }) as KubeObject;

const ingress: KubeObject = {
  metadata: { name: 'web', namespace: 'ns' },
  spec: { ingressClassName: 'nginx', tls: [{ hosts: ['a'] }], rules: [{ http: { paths: [{ backend: { service: { name: 'svc' } } }] } }] },
};
const svc: KubeObject = { metadata: { name: 'svc', namespace: 'ns' }, spec: { selector: { app: 'a' }, ports: [{ port: 80 }] } };

function setup(
  p: KubeObject,
  fail?: (what: string) => Error | undefined,
  extra: { networkPolicies?: KubeObject[]; get?: Actions['get'] } = {},
): { reconciler: PolicyReconciler; calls: string[]; statuses: Record<string, unknown>[] } {
  const calls: string[] = [];
  const statuses: Record<string, unknown>[] = [];
  const act = async (what: string): Promise<void> => {
    calls.push(what);
    const err = fail?.(what);
    if (err) throw err;
  };
  const actions: Actions = {
    applyOwned: (_r, o) => act(`applyOwned ${o.metadata.name}`),
    applyAnnotations: (_r, _ns, name) => act(`applyAnnotations ${name}`),
    applyFinalizers: (_r, _ns, _n, f) => act(`applyFinalizers [${f.join(',')}]`),
    applyStatus: async (_r, _ns, _n, status) => {
      statuses.push(status as Record<string, unknown>);
      await act('applyStatus');
    },
    delete: (_r, _ns, name) => act(`delete ${name}`),
    recordEvent: async (_r, type, reason) => (calls.push(`event ${type} ${reason}`), undefined),
    ...(extra.get ? { get: extra.get } : {}),
  };
  const caches: Caches = { policies: store([p]) as Caches['policies'], ingresses: store([ingress]), services: store([svc]), networkPolicies: store(extra.networkPolicies ?? []), configMaps: store([]), namespaces: store([]), baselines: store([]), middlewares: store([]) };
  return { reconciler: new PolicyReconciler({ caches, actions, settings: defaultSettings, now: () => new Date('2026-11-28T00:00:00Z') }), calls, statuses };
}

const spec = { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'web' }], rateLimit: { requestsPerSecond: 5 }, network: { defaultDeny: true } };
const condition = (s: Record<string, unknown> | undefined, type: string): Record<string, unknown> | undefined =>
  (s?.conditions as Record<string, unknown>[] | undefined)?.find((c) => c.type === type);

describe('PolicyReconciler errors', () => {
  it('adds the finalizer first, then writes owned objects before the annotations that use them, then status', async () => {
    const { reconciler, calls } = setup(policy(spec, { finalizers: [] }));
    const res = await reconciler.reconcile('ns', 'p', log);
    expect(calls).toEqual([`applyFinalizers [${FINALIZER}]`, `applyOwned ${generatedName({ name: 'p', namespace: 'ns', uid: 'u1' }, 'svc')}`, 'applyAnnotations web', 'applyStatus']);
    expect(res.writes).toBe(4);
    expect(res.requeueAfterMs).toBe(10 * 60_000);
  });

  it.each([
    ['409 conflict', new ApiError('conflict', 409, 'Conflict')],
    ['429 throttled', new ApiError('slow down', 429, 'TooManyRequests')],
    ['503', new ApiError('unavailable', 503, 'ServiceUnavailable')],
    ['network error', new ApiError('ECONNRESET', 0, 'NetworkError')],
  ])('a transient %s still writes status, then throws for a backoff retry', async (_name, err) => {
    const { reconciler, calls, statuses } = setup(policy(spec), (what) => (what.startsWith('applyAnnotations') ? err : undefined));
    await expect(reconciler.reconcile('ns', 'p', log)).rejects.toBe(err);
    expect(calls).toContain('applyStatus');
    expect(condition(statuses[0], 'Enforced')).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
  });

  it('a permanent 403 becomes ApplyFailed with a bounded re-check instead of a hot retry', async () => {
    const err = new ApiError('PATCH ingresses/web: 403 Forbidden: cannot patch', 403, 'Forbidden');
    const { reconciler, statuses } = setup(policy(spec), (what) => (what.startsWith('applyOwned') ? err : undefined));
    const res = await reconciler.reconcile('ns', 'p', log);
    expect(res.requeueAfterMs).toBe(5 * 60_000);
    expect(condition(statuses[0], 'Enforced')).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
    expect(String(condition(statuses[0], 'Enforced')?.message)).toContain('403 Forbidden');
  });

  it('an invalid spec is terminal: a condition, no writes to targets, no requeue', async () => {
    const { reconciler, calls, statuses } = setup(policy({ ...spec, rateLimit: { requestsPerSecond: 5, requestsPerMinute: 60 } }));
    const res = await reconciler.reconcile('ns', 'p', log);
    expect(calls).toEqual(['applyStatus']);
    expect(res.requeueAfterMs).toBeUndefined();
    expect(condition(statuses[0], 'Accepted')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(String(condition(statuses[0], 'Accepted')?.message)).toContain('spec.rateLimit');
  });

  it('an auth URL the operator does not allow is terminal: Accepted=False OutboundURLRefused, nothing written', async () => {
    const { reconciler, calls, statuses } = setup(policy({ ...spec, authentication: { external: { authURL: 'http://127.0.0.1:10246/configuration/backends' } } }));
    await reconciler.reconcile('ns', 'p', log);
    expect(calls).toEqual(['applyStatus']);
    expect(condition(statuses[0], 'Accepted')).toMatchObject({ status: 'False', reason: 'OutboundURLRefused' });
    expect(String(condition(statuses[0], 'Accepted')?.message)).toContain('loopback address 127.0.0.1');
  });

  const npName = generatedName({ name: 'p', namespace: 'ns', uid: 'u1' }, 'svc');
  it.each([
    ['a cached object with the operator labels, owned by another policy', { networkPolicies: [{ metadata: { name: npName, namespace: 'ns', labels: { 'apisec.dev/policy': 'p' }, ownerReferences: [{ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'other', uid: 'u2', controller: true }] } } as KubeObject] }, 'ApiSecurityPolicy/other (uid u2)'],
    ['an object the caches do not hold (no operator labels), read by name', { get: async (_r: unknown, _ns: string, name: string) => (name === npName ? ({ metadata: { name, namespace: 'ns' } } as KubeObject) : undefined) }, 'no owner'],
  ])('a generated name taken by %s: Conflicted naming the owner, nothing written', async (_what, extra, owner) => {
    const { reconciler, calls, statuses } = setup(policy(spec), undefined, extra as Parameters<typeof setup>[2]);
    const res = await reconciler.reconcile('ns', 'p', log);
    expect(calls).toEqual(['applyStatus']);
    expect(res.requeueAfterMs).toBe(5 * 60_000);
    expect(condition(statuses[0], 'Conflicted')).toMatchObject({ status: 'True', reason: 'ForeignObject' });
    expect(String(condition(statuses[0], 'Conflicted')?.message)).toContain(`NetworkPolicy ${npName} already exists and is not this policy's: owned by ${owner}`);
    expect(condition(statuses[0], 'Enforced')).toMatchObject({ status: 'False', reason: 'Conflicted' });
  });

  it('an object of that name owned by this policy (cache lagging) is applied as usual', async () => {
    const get: Actions['get'] = async (_r, _ns, name) => ({ metadata: { name, namespace: 'ns', ownerReferences: [{ uid: 'u1' }] } }) as unknown as KubeObject;
    const { reconciler, calls } = setup(policy(spec), undefined, { get });
    await reconciler.reconcile('ns', 'p', log);
    expect(calls).toContain(`applyOwned ${npName}`);
  });

  it('a policy being deleted releases what it wrote and then its finalizer', async () => {
    const marked: KubeObject = {
      ...ingress,
      metadata: {
        ...ingress.metadata,
        annotations: { 'apisec.dev/policy': 'p', 'nginx.ingress.kubernetes.io/limit-rps': '5' },
        managedFields: [{ manager: 'api-security-operator', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:apisec.dev/policy': {} } } } }],
      },
    };
    const p = policy(spec, { deletionTimestamp: '2026-11-28T00:00:00Z' });
    const calls: string[] = [];
    const rec = (what: string): Promise<void> => (calls.push(what), Promise.resolve());
    const reconciler = new PolicyReconciler({
      caches: {
        policies: store([p]) as Caches['policies'],
        ingresses: store([marked]),
        services: store([svc]),
        networkPolicies: store([{ metadata: { name: 'apisec-p-svc', namespace: 'ns', labels: { 'apisec.dev/policy': 'p' } } }]),
        configMaps: store([]),
        namespaces: store([]),
        baselines: store([]),
        middlewares: store([]),
      },
      actions: {
        applyOwned: () => rec('applyOwned'),
        applyAnnotations: (_r, _ns, name, a) => rec(`applyAnnotations ${name} ${Object.keys(a).length}`),
        applyFinalizers: (_r, _ns, _n, f) => rec(`applyFinalizers [${f.join(',')}]`),
        applyStatus: () => rec('applyStatus'),
        delete: (_r, _ns, name) => rec(`delete ${name}`),
        recordEvent: async () => undefined,
      },
      settings: defaultSettings,
    });
    await reconciler.reconcile('ns', 'p', log);
    expect(calls).toEqual(['applyAnnotations web 0', 'delete apisec-p-svc', 'applyFinalizers []']);
  });
});
