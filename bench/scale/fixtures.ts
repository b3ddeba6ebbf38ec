// The objects of the scale benchmark, as a platform team would have them: N policies spread round-robin
// over M namespaces, each policy on its own Ingress, and that Ingress in front of its own headless Service
// (headless: the test control plane has a small Service IP range, and no Service needs a ClusterIP here).
import type { KubeClient } from '../../src/k8s/client.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { apply } from '../../test/support/kube.ts';

/** The field manager of everything the benchmark itself writes (never the operator's). */
export const BENCH_MANAGER = 'apisec-bench';

export interface Layout {
  policies: number;
  namespaces: number;
  /** Namespace names are `${prefix}-${j}`. */
  prefix: string;
}

export const namespaceOf = (l: Layout, i: number): string => `${l.prefix}-${i % l.namespaces}`;
export const policyName = (i: number): string => `pol-${i}`;
export const ingressName = (i: number): string => `api-${i}`;

/** The spec of policy i: Enforce, a rate limit (the latency phase changes it) and a default-deny network. */
export function policySpec(i: number, requestsPerSecond = 50): Record<string, unknown> {
  return {
    targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: ingressName(i) }],
    mode: 'Enforce',
    rateLimit: { requestsPerSecond },
    network: { defaultDeny: true, allowFrom: [{ ingressController: true }] },
  };
}

export function policyObject(l: Layout, i: number, requestsPerSecond = 50): KubeObject {
  return { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { name: policyName(i), namespace: namespaceOf(l, i) }, spec: policySpec(i, requestsPerSecond) };
}

function serviceObject(l: Layout, i: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: namespaceOf(l, i) },
    spec: { clusterIP: 'None', selector: { app: `api-${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

function ingressObject(l: Layout, i: number): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: ingressName(i), namespace: namespaceOf(l, i) },
    spec: { ingressClassName: 'nginx', rules: [{ host: `api-${i}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: `svc-${i}`, port: { number: 80 } } } }] } }] },
  };
}

/** Runs fn over 0..count-1 with at most `limit` calls in flight (a bounded loop). */
export async function pooled(count: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, lane));
}

export async function createNamespace(admin: KubeClient, name: string): Promise<void> {
  await admin.request('POST', '/api/v1/namespaces', { verb: 'create', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } }).catch((e: unknown) => {
    if (!(e instanceof ApiError && e.status === 409)) throw e;
  });
}

/** Creates the namespaces and, per policy, its Service, Ingress and policy (in that order). */
export async function createFixtures(admin: KubeClient, l: Layout, concurrency = 16): Promise<void> {
  for (let j = 0; j < l.namespaces; j++) await createNamespace(admin, `${l.prefix}-${j}`);
  await pooled(l.policies, concurrency, async (i) => {
    await apply(admin, serviceObject(l, i), BENCH_MANAGER);
    await apply(admin, ingressObject(l, i), BENCH_MANAGER);
    await apply(admin, policyObject(l, i), BENCH_MANAGER);
  });
}
