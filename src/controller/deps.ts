// What the reconcilers read and write, as interfaces: the informer caches (src/k8s/informer.ts) and the
// writer (src/k8s/apply.ts) implement them, unit tests pass in-memory ones.
import type { ApiSecurityPolicy } from '../api/v1alpha1.ts';
import type { EventNote, ObjectRef, Regarding } from '../k8s/apply.ts';
import type { Resources} from '../k8s/resources.ts';
import { type KubeObject, type ResourceType } from '../k8s/resources.ts';
import type { OwnedResource } from './plan.ts';

export type { OwnedResource };

export interface Store<T> {
  get(key: string): T | undefined;
  list(namespace?: string): T[];
  /** The objects an index files under a value (src/controller/indexes.ts); stores without it are scanned. */
  byIndex?(index: string, value: string): T[];
}

export interface Caches {
  policies: Store<ApiSecurityPolicy & KubeObject>;
  ingresses: Store<KubeObject>;
  services: Store<KubeObject>;
  networkPolicies: Store<KubeObject>;
  configMaps: Store<KubeObject>;
  /** Namespaces (for baseline selectors) and ClusterApiSecurityPolicy baselines. */
  namespaces: Store<KubeObject>;
  baselines: Store<KubeObject>;
  /** Traefik Middlewares the operator owns (empty while Traefik's CRDs are not served). */
  middlewares: Store<KubeObject>;
  /** HTTPRoutes, Gateways and GatewayClasses (empty while the Gateway API is not served). */
  httpRoutes: Store<KubeObject>;
  gateways: Store<KubeObject>;
  gatewayClasses: Store<KubeObject>;
  /** Envoy Gateway's SecurityPolicies and BackendTrafficPolicies the operator owns (empty while not served). */
  securityPolicies: Store<KubeObject>;
  backendTrafficPolicies: Store<KubeObject>;
  /** The apisec guard's SuspiciousActivity Events (labelled; slimmed to what the status names). */
  suspiciousEvents: Store<KubeObject>;
  /** Secrets labelled apisec.dev/client-ca=true, by name only (metadata-only watch, slimmed). */
  clientCAs: Store<KubeObject>;
  /** Secrets labelled apisec.dev/api-keys=true, by name only (metadata-only watch, slimmed). */
  apiKeySecrets: Store<KubeObject>;
  /** With sidecar injection: pods as metadata (labels, the injected-by annotation), for SidecarInjected. */
  pods?: Store<KubeObject>;
}

export type { EventNote, Regarding } from '../k8s/apply.ts';

/** Records an Event (best effort: resolves to the error instead of throwing). See src/k8s/apply.ts. */
export type RecordEvent = (regarding: Regarding, event: EventNote) => Promise<Error | undefined>;

/** The writes a reconcile may make; implemented by src/k8s/apply.ts. */
export interface Actions {
  applyOwned(r: OwnedResource, obj: KubeObject): Promise<unknown>;
  applyAnnotations(r: (typeof Resources)['ingress' | 'httpRoute'], ref: ObjectRef, annotations: Record<string, string>, opts: { force: boolean }): Promise<unknown>;
  recordEvent: RecordEvent;
  applyFinalizers(r: (typeof Resources)['policy'], object: ObjectRef, finalizers: string[]): Promise<void>;
  /** Resolves to the object as written (for its resourceVersion), or nothing. */
  applyStatus(r: ResourceType, namespace: string | undefined, name: string, status: unknown): Promise<unknown>;
  delete(r: OwnedResource, namespace: string, name: string, uid?: string): Promise<void>;
  /** Reads one object by name (undefined when there is none), to see who owns a name before taking it. */
  get?(r: OwnedResource, namespace: string, name: string): Promise<KubeObject | undefined>;
}

/** The cache of one owned resource. */
export function ownedCache(caches: Caches, r: OwnedResource): Store<KubeObject> {
  const by: Record<OwnedResource['kind'], Store<KubeObject>> = {
    ConfigMap: caches.configMaps,
    Middleware: caches.middlewares,
    NetworkPolicy: caches.networkPolicies,
    SecurityPolicy: caches.securityPolicies,
    BackendTrafficPolicy: caches.backendTrafficPolicies,
  };
  return by[r.kind];
}

/** `namespace/name` → its parts (a cluster-scoped key has no slash: namespace ''). */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
