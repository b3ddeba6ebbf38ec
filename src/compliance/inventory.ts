// The API inventory: every API the cluster exposes — each Ingress, and each Service reachable from outside
// the cluster (LoadBalancer, NodePort) — with what covers it: an ApiSecurityPolicy (the API is a target, or
// a Service is the backend of a targeted Ingress), a baseline that wrote its floors onto an Ingress no
// policy targets (protectUncovered), or nothing (a "shadow API"). A baseline that merely selects the
// namespace is named, but covers nothing: it wrote nothing onto the API. Pure; used by the reports controller and by `apisec check` and
// `apisec report` (src/cli/coverage.ts).
import { codeUnitOrder } from '../util/order.ts';
import { backendServices } from '../render/index.ts';
import { routeBackendServices, type RouteLike } from '../render/gateway-api.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import { ClaimIndex, oldest, type PolicyClaim } from './claims.ts';

export type Coverage = 'policy' | 'baseline' | 'none';

export const EXPOSED_SERVICE_TYPES: ReadonlySet<string> = new Set(['LoadBalancer', 'NodePort']);

/** What the inventory needs of a policy: its identity, age, and its raw (unvalidated) spec. */
export interface InventoryPolicy {
  metadata: { name: string; namespace?: string; creationTimestamp?: string; deletionTimestamp?: string };
  spec?: unknown;
}

export interface InventoryInput {
  policies: readonly InventoryPolicy[];
  ingresses: readonly IngressLike[];
  services: readonly ServiceLike[];
  /** HTTPRoutes (Gateway API), when the cluster serves them. */
  routes?: readonly RouteLike[];
  /** The name of the baseline that selects a namespace, if any (none: no baselines). */
  baselineFor?: (namespace: string) => string | undefined;
  /** The baseline whose floors an Ingress carries (protectUncovered), if any. */
  protectedBy?: (ingress: IngressLike) => string | undefined;
}

export interface ApiEntry {
  kind: 'Ingress' | 'Service' | 'HTTPRoute';
  namespace: string;
  name: string;
  /** Ingress: its hosts ("*" for a rule without host), in order of appearance; HTTPRoute: its hostnames. */
  hosts?: string[];
  /** Ingress: its paths ("/" for a rule without paths), in order of appearance. */
  paths?: string[];
  /** Service: LoadBalancer or NodePort. */
  serviceType?: string;
  coverage: Coverage;
  /** The policy that governs the API (the oldest one, as conflict resolution decides). */
  policy?: string;
  /** The baseline that selects the namespace, also when a policy covers the API. */
  baseline?: string;
}

const nsOf = (o: { metadata: { namespace?: string } }): string => o.metadata.namespace ?? '';

const cmp = codeUnitOrder;

export const compareApis = (a: Pick<ApiEntry, 'namespace' | 'kind' | 'name'>, b: Pick<ApiEntry, 'namespace' | 'kind' | 'name'>): number =>
  cmp(a.namespace, b.namespace) || cmp(a.kind, b.kind) || cmp(a.name, b.name);

export function ingressHosts(ing: IngressLike): string[] {
  const hosts = (ing.spec?.rules ?? []).map((r) => r.host ?? '*');
  return [...new Set(hosts.length ? hosts : ['*'])];
}

export function ingressPaths(ing: IngressLike): string[] {
  const paths = (ing.spec?.rules ?? []).flatMap((r) => (r.http?.paths?.length ? r.http.paths.map((p) => p.path ?? '/') : ['/']));
  return [...new Set(paths.length ? paths : ['/'])];
}

function withCoverage(base: Omit<ApiEntry, 'coverage'>, policy: PolicyClaim | undefined, baseline: string | undefined, protectedBy?: string): ApiEntry {
  const coverage: Coverage = policy ? 'policy' : protectedBy !== undefined ? 'baseline' : 'none';
  const named = protectedBy ?? baseline;
  return { ...base, coverage, ...(policy ? { policy: policy.name } : {}), ...(named !== undefined ? { baseline: named } : {}) };
}

/** HTTPRoutes with their coverage; the Services behind a covered route are noted in `behind`. */
function routeEntries(routes: readonly RouteLike[], claims: ClaimIndex, behind: Map<string, PolicyClaim[]>, baselineOf: (ns: string) => string | undefined): ApiEntry[] {
  return routes.map((route) => {
    const ns = nsOf(route);
    const policy = claims.governor(ns, 'HTTPRoute', route.metadata.name);
    if (policy) for (const s of routeBackendServices(route)) behind.set(`${ns}/${s}`, [...(behind.get(`${ns}/${s}`) ?? []), policy]);
    const hosts = route.spec?.hostnames?.length ? [...route.spec.hostnames] : ['*'];
    return withCoverage({ kind: 'HTTPRoute', namespace: ns, name: route.metadata.name, hosts }, policy, baselineOf(ns));
  });
}

/** Every API with its coverage, sorted by namespace, kind and name. Policies being deleted or invalid cover nothing. */
export function apiInventory(input: InventoryInput): ApiEntry[] {
  const claims = new ClaimIndex(input.policies);
  const baselines = new Map<string, string | undefined>();
  const baselineOf = (ns: string): string | undefined => {
    if (!baselines.has(ns)) baselines.set(ns, input.baselineFor?.(ns));
    return baselines.get(ns);
  };
  const out: ApiEntry[] = [];
  // A Service behind a covered Ingress is covered by that Ingress's policy.
  const behind = new Map<string, PolicyClaim[]>();
  for (const ing of input.ingresses) {
    const ns = nsOf(ing);
    const policy = claims.governor(ns, 'Ingress', ing.metadata.name);
    if (policy) for (const s of backendServices([ing])) behind.set(`${ns}/${s}`, [...(behind.get(`${ns}/${s}`) ?? []), policy]);
    const base = { kind: 'Ingress' as const, namespace: ns, name: ing.metadata.name, hosts: ingressHosts(ing), paths: ingressPaths(ing) };
    out.push(withCoverage(base, policy, baselineOf(ns), policy ? undefined : input.protectedBy?.(ing)));
  }
  out.push(...routeEntries(input.routes ?? [], claims, behind, baselineOf));
  for (const svc of input.services) {
    const type = svc.spec?.type ?? 'ClusterIP';
    if (!EXPOSED_SERVICE_TYPES.has(type)) continue;
    const ns = nsOf(svc);
    const policy = claims.governor(ns, 'Service', svc.metadata.name) ?? oldest(behind.get(`${ns}/${svc.metadata.name}`) ?? []);
    out.push(withCoverage({ kind: 'Service', namespace: ns, name: svc.metadata.name, serviceType: type }, policy, baselineOf(ns)));
  }
  return out.sort(compareApis);
}

export const uncoveredOf = (entries: readonly ApiEntry[]): ApiEntry[] => entries.filter((e) => e.coverage === 'none');
