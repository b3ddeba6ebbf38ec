// Shared builders for unit tests (in the manner of cert-manager's test/unit/gen): a policy spec aimed at one
// target, Kubernetes objects, in-memory caches, recorded actions and a reconcile context, so each test
// states only what differs.
import { pino } from 'pino';
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../../src/api/v1alpha1.ts';
import type { Actions, Caches, Store } from '../../src/controller/deps.ts';
import { FINALIZER } from '../../src/controller/policy.ts';
import { WriteCounter, type ReconcileContext } from '../../src/controller/runtime.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { FakeClock } from './clock.ts';

export type SpecFragment = Omit<ApiSecurityPolicySpecInput, 'targetRefs'>;

/** A validated spec aimed at one target (an Ingress `api` unless told otherwise). */
export function policySpec(fragment: SpecFragment = {}, target: { kind: 'Ingress' | 'Service'; name: string } = { kind: 'Ingress', name: 'api' }): ApiSecurityPolicySpec {
  const group = target.kind === 'Ingress' ? 'networking.k8s.io' : '';
  return ApiSecurityPolicySpec.parse({ targetRefs: [{ group, ...target }], ...fragment });
}

/** An ApiSecurityPolicy object `ns/p` (generation 2, finalizer present) with a raw spec. */
export function policyObject(spec: Record<string, unknown>, metadata: Partial<KubeObject['metadata']> = {}): KubeObject {
  return {
    apiVersion: 'apisec.dev/v1alpha1',
    kind: 'ApiSecurityPolicy',
    metadata: { name: 'p', namespace: 'ns', uid: 'u1', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z', finalizers: [FINALIZER], ...metadata },
    spec,
  } as KubeObject;
}

/** An Ingress of class nginx with TLS, whose one path goes to `service`. */
export function ingressObject(name: string, opts: { namespace?: string; service?: string; className?: string; annotations?: Record<string, string> } = {}): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: opts.namespace ?? 'ns', ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    spec: { ingressClassName: opts.className ?? 'nginx', tls: [{ hosts: ['a'] }], rules: [{ http: { paths: [{ backend: { service: { name: opts.service ?? 'svc' } } }] } }] },
  };
}

export function serviceObject(name: string, opts: { namespace?: string; port?: number; targetPort?: number | string } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: opts.namespace ?? 'ns' },
    spec: { selector: { app: name }, ports: [{ port: opts.port ?? 80, ...(opts.targetPort !== undefined ? { targetPort: opts.targetPort } : {}) }] },
  };
}

/** A read-only in-memory cache keyed `namespace/name` (or `name` for cluster-scoped objects). */
export function store<T extends KubeObject>(items: readonly T[]): Store<T> {
  const keyOf = (i: T): string => (i.metadata.namespace ? `${i.metadata.namespace}/${i.metadata.name}` : i.metadata.name);
  return {
    get: (key) => items.find((i) => keyOf(i) === key),
    list: (ns) => items.filter((i) => ns === undefined || i.metadata.namespace === ns),
  };
}

/** Every cache the reconcilers read; those not given are empty. */
export function memoryCaches(given: Partial<Record<keyof Caches, readonly KubeObject[]>> = {}): Caches {
  const s = (k: keyof Caches): Store<KubeObject> => store(given[k] ?? []);
  return {
    policies: s('policies') as Caches['policies'],
    ingresses: s('ingresses'),
    services: s('services'),
    networkPolicies: s('networkPolicies'),
    configMaps: s('configMaps'),
    namespaces: s('namespaces'),
    baselines: s('baselines'),
    middlewares: s('middlewares'),
    suspiciousEvents: s('suspiciousEvents'),
    clientCAs: s('clientCAs'),
    apiKeySecrets: s('apiKeySecrets'),
    httpRoutes: s('httpRoutes'),
    gateways: s('gateways'),
    gatewayClasses: s('gatewayClasses'),
    securityPolicies: s('securityPolicies'),
    backendTrafficPolicies: s('backendTrafficPolicies'),
  };
}

export interface RecordedActions {
  actions: Actions;
  /** One line per call: `applyOwned <name>`, `applyAnnotations <name> <keys>`, `applyStatus`, … */
  calls: string[];
  statuses: Record<string, unknown>[];
}

/** Actions that record each call; `fail` may return an error to throw for a call line. */
export function recordingActions(fail?: (call: string) => Error | undefined): RecordedActions {
  const calls: string[] = [];
  const statuses: Record<string, unknown>[] = [];
  const act = async (call: string): Promise<void> => {
    calls.push(call);
    const err = fail?.(call);
    if (err) throw err;
  };
  const actions: Actions = {
    applyOwned: (_r, o) => act(`applyOwned ${o.metadata.name}`),
    applyAnnotations: (_r, { name }, a, { force }) => act(`applyAnnotations ${name} ${Object.keys(a).length}${force ? ' force' : ''}`),
    applyFinalizers: (_r, _o, f) => act(`applyFinalizers [${f.join(',')}]`),
    applyStatus: async (_r, _ns, _n, status) => {
      statuses.push(status as Record<string, unknown>);
      await act('applyStatus');
    },
    delete: (_r, _ns, name) => act(`delete ${name}`),
    recordEvent: async (_r, { type, reason }) => (calls.push(`event ${type} ${reason}`), undefined),
  };
  return { actions, calls, statuses };
}

/** A reconcile context on a manual clock (2026-11-28T00:00:00Z), with a silent logger. */
export function reconcileContext(clock = new FakeClock(new Date('2026-11-28T00:00:00Z'))): ReconcileContext {
  return { log: pino({ level: 'silent' }), clock, writes: new WriteCounter(), signal: new AbortController().signal };
}

/** The condition of a type in a recorded status. */
export const conditionOf = (status: Record<string, unknown> | undefined, type: string): Record<string, unknown> | undefined =>
  (status?.conditions as Record<string, unknown>[] | undefined)?.find((c) => c.type === type);
