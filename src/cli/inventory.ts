// Sorts parsed documents into what the operator looks at: ApiSecurityPolicies, ClusterApiSecurityPolicy
// baselines, the Namespaces they select by label, Ingresses and Services. Every other kind is ignored.
import { CLUSTER_KIND } from '../api/cluster-v1alpha1.ts';
import { API_VERSION, GROUP, KIND } from '../api/v1alpha1.ts';
import type { GatewayClassLike, GatewayLike, RouteLike } from '../render/gateway-api.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import type { Doc, Location } from './documents.ts';
import { InputError } from './errors.ts';

export interface RawPolicy {
  metadata: { name: string; namespace: string; uid?: string; creationTimestamp?: string; generation?: number; deletionTimestamp?: string };
  spec: unknown;
  status?: unknown;
}

export interface Located<T> {
  object: T;
  at: Location;
  lineOf?: Doc['lineOf'];
}

export interface RawBaseline {
  metadata: { name: string; creationTimestamp?: string };
  spec: unknown;
}

export interface RawNamespace {
  metadata: { name: string; labels?: Record<string, string> };
}

export interface Inventory {
  policies: Located<RawPolicy>[];
  ingresses: Located<IngressLike>[];
  services: Located<ServiceLike>[];
  baselines: Located<RawBaseline>[];
  namespaces: Located<RawNamespace>[];
  /** Secrets, by name and labels only (never their data): whether one consents to be a client CA. */
  secrets: Located<SecretMeta>[];
  /** Gateway API objects: HTTPRoute targets, and the Gateways and classes that decide their data plane. */
  httpRoutes: Located<RouteLike>[];
  gateways: Located<GatewayLike>[];
  gatewayClasses: Located<GatewayClassLike>[];
}

/** What the inventory keeps of a Secret. */
export interface SecretMeta {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
}

export const at = (l: Location): string => `${l.file}:${l.line}`;

type Bucket = 'policies' | 'ingresses' | 'services' | 'baselines' | 'namespaces' | 'secrets' | 'httpRoutes' | 'gateways' | 'gatewayClasses';
const CLUSTER_SCOPED = new Set<Bucket>(['baselines', 'namespaces', 'gatewayClasses']);

function bucketOf(doc: Doc): Bucket | undefined {
  const { apiVersion, kind } = doc.object;
  if (kind === KIND) {
    if (apiVersion === API_VERSION) return 'policies';
    // Silently skipping a policy would make its APIs look uncovered.
    if (typeof apiVersion === 'string' && apiVersion.startsWith(`${GROUP}/`)) {
      throw new InputError(`${at(doc)}: ${KIND} ${String(apiVersion)} is not supported by this apisec (use ${API_VERSION})`);
    }
    return undefined;
  }
  if (kind === CLUSTER_KIND && apiVersion === API_VERSION) return 'baselines';
  if (kind === 'Namespace' && apiVersion === 'v1') return 'namespaces';
  if (kind === 'Ingress' && apiVersion === 'networking.k8s.io/v1') return 'ingresses';
  if (kind === 'Service' && apiVersion === 'v1') return 'services';
  if (kind === 'Secret' && apiVersion === 'v1') return 'secrets';
  if (apiVersion === 'gateway.networking.k8s.io/v1') return ({ HTTPRoute: 'httpRoutes', Gateway: 'gateways', GatewayClass: 'gatewayClasses' } as Record<string, Bucket>)[String(kind)];
  return undefined;
}

/**
 * Classifies the documents; objects without a namespace get `defaultNamespace` (as kubectl apply would).
 * A missing name or the same object twice is an input error: the result would be ambiguous.
 */
export function buildInventory(docs: Doc[], defaultNamespace: string): Inventory {
  const inv: Inventory = { policies: [], ingresses: [], services: [], baselines: [], namespaces: [], secrets: [], httpRoutes: [], gateways: [], gatewayClasses: [] };
  const seen = new Map<string, Location>();
  for (const doc of docs) {
    const bucket = bucketOf(doc);
    if (!bucket) continue;
    const kind = String(doc.object.kind);
    const meta = doc.object.metadata as Record<string, unknown> | undefined;
    const name = meta?.name;
    if (typeof name !== 'string' || name === '') throw new InputError(`${at(doc)}: ${kind} without metadata.name`);
    const cluster = CLUSTER_SCOPED.has(bucket);
    const namespace = typeof meta?.namespace === 'string' && meta.namespace !== '' ? meta.namespace : defaultNamespace;
    const key = cluster ? `${kind} ${name}` : `${kind} ${namespace}/${name}`;
    const first = seen.get(key);
    if (first) throw new InputError(`${at(doc)}: ${key} appears twice (first at ${at(first)})`);
    seen.set(key, doc);
    const labels = meta?.labels as Record<string, string> | undefined;
    // A Secret's data is never kept (nor printed): only whether its labels consent to a use.
    const object =
      bucket === 'secrets' ? { metadata: { name, namespace, ...(labels ? { labels } : {}) } } : { ...doc.object, metadata: cluster ? { ...meta, name } : { ...meta, name, namespace } };
    (inv[bucket] as Located<unknown>[]).push({ object, at: { file: doc.file, line: doc.line }, lineOf: doc.lineOf });
  }
  return inv;
}
