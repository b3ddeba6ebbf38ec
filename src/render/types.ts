// Inputs and outputs of the pure render step. Plain records only: the renderers import no client and
// do no I/O, so every artifact is a function of (policy, observed targets, operator settings).
import type { ApiSecurityPolicySpec, ControlName } from '../api/v1alpha1.ts';
import type { ParentInfo, RouteLike } from './gateway-api.ts';

/** The data planes: the Ingress controllers, and Envoy Gateway for HTTPRoutes. */
export type Provider = 'ingress-nginx' | 'traefik' | 'haproxy' | 'envoy-gateway';
/** The data planes that serve Ingresses (spec.provider, --ingress-class). */
export type IngressProvider = Exclude<Provider, 'envoy-gateway'>;
/** The data planes that serve HTTPRoutes (--gateway-controller). */
export type RouteProvider = 'envoy-gateway' | 'traefik';
export const ROUTE_PROVIDERS: readonly RouteProvider[] = ['envoy-gateway', 'traefik'];
/**
 * Exact: enforced as declared by what the operator wrote. Approximated: enforced by what the operator
 * wrote, with a stated difference (per replica, 301 for 308). Delegated: the decision is made by a
 * component the operator does not configure (the user's auth endpoint, the controller's global
 * ConfigMap), so the operator cannot vouch for it. Unsupported: nothing enforces it.
 */
export type Fidelity = 'Exact' | 'Approximated' | 'Delegated' | 'Unsupported';

export interface FidelityNote {
  fidelity: Fidelity;
  reason?: string;
  /**
   * Parts the policy declares that no component the operator configured enforces (e.g. "method
   * allow-list"). Any entry makes the control Fail in Enforce mode, whatever the fidelity says.
   */
  unenforced?: string[];
}

/** How faithfully one data plane expresses each control that the policy asks for. */
export type FidelityReport = Partial<Record<ControlName, FidelityNote>>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
}

export interface IngressLike {
  metadata: ObjectMeta;
  spec?: {
    ingressClassName?: string;
    tls?: { hosts?: string[]; secretName?: string }[];
    defaultBackend?: { service?: { name: string } };
    rules?: { host?: string; http?: { paths?: { path?: string; backend?: { service?: { name: string } } }[] } }[];
  };
}

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
}

export interface ServiceLike {
  metadata: ObjectMeta;
  spec?: { type?: string; selector?: Record<string, string>; ports?: ServicePort[] };
}

/** Where the pods of an ingress controller run, for NetworkPolicy peers. */
export interface ControllerPeer {
  namespace: string;
  podLabels: Record<string, string>;
}

/**
 * What surrounds a renderer's data plane in the request path: the apisec guard's check URL for the
 * policy (when the operator knows a guard, --guard-url) and the proxies in front of it whose
 * X-Forwarded-For names the client (--trusted-proxy).
 */
export interface DataPath {
  guard?: string | undefined;
  trusted: readonly string[];
  /** The platform's rate-limit store, for `rateLimit.scope: Global` (--rate-limit-store). */
  store?: RateLimitStore | undefined;
}

/**
 * The Redis (or Valkey) that Global rate limits count in, named by the platform team in the operator's
 * flags: a tenant's policy can never name one. `credentials`: the store needs a username and password
 * (from a Secret in the operator's namespace, read by the guard); they are never copied to tenants'
 * namespaces, so data planes that read credentials only from there (Traefik) cannot use such a store.
 */
export interface RateLimitStore {
  /** host:port. */
  endpoint: string;
  credentials: boolean;
}

export const NO_DATA_PATH: DataPath = { trusted: [] };

export interface OperatorSettings {
  /** Ingress class name → data plane, for provider: auto. */
  ingressClasses: Record<string, IngressProvider>;
  /** GatewayClass controllerName → data plane of the HTTPRoutes whose Gateways have that class. */
  gatewayControllers?: Record<string, RouteProvider>;
  ingressControllers: Partial<Record<Provider, ControllerPeer>>;
  /** Base URL of the apisec guard (e.g. http://apisec-guard.apisec-system.svc:8080), which decides jwt, oidc and apiKey without authURL. */
  guardURL?: string;
  /**
   * Hosts that auth URLs may name (exact, or `*.suffix`); empty: any DNS name but the API server's and
   * loopback names. An exact entry may name an IP address (src/compliance/outbound.ts).
   */
  authHosts?: readonly string[];
  /**
   * Proxies in front of the data planes (load balancers, the ingress controller before a sidecar) whose
   * X-Forwarded-For is believed: the client address is the first one from the right not in these CIDRs.
   * Empty: the address of the connection (the previous hop).
   */
  trustedProxies?: readonly string[];
  /** The store Global rate limits count in (--rate-limit-store); none: Global is reported not enforced. */
  rateLimitStore?: RateLimitStore;
}

export const defaultSettings: OperatorSettings = {
  ingressClasses: { nginx: 'ingress-nginx', 'ingress-nginx': 'ingress-nginx', traefik: 'traefik', haproxy: 'haproxy' },
  ingressControllers: {
    'ingress-nginx': { namespace: 'ingress-nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
    traefik: { namespace: 'traefik', podLabels: { 'app.kubernetes.io/name': 'traefik' } },
    haproxy: { namespace: 'haproxy-controller', podLabels: { 'app.kubernetes.io/name': 'kubernetes-ingress' } },
    // Envoy Gateway's proxies (one Deployment per Gateway, in its own namespace by default).
    'envoy-gateway': { namespace: 'envoy-gateway-system', podLabels: { 'app.kubernetes.io/component': 'proxy', 'app.kubernetes.io/managed-by': 'envoy-gateway' } },
  },
  gatewayControllers: { 'gateway.envoyproxy.io/gatewayclass-controller': 'envoy-gateway', 'traefik.io/gateway-controller': 'traefik' },
};

export interface PolicyRef {
  name: string;
  namespace: string;
  uid: string;
}

/** The desired annotations for one Ingress and what the data plane makes of each control. */
export interface IngressPlan {
  ingress: string;
  provider: Provider;
  annotations: Record<string, string>;
  fidelity: FidelityReport;
}

export interface RenderInput {
  policy: PolicyRef;
  spec: ApiSecurityPolicySpec;
  ingresses: IngressLike[];
  services: ServiceLike[];
  settings: OperatorSettings;
  /** The data planes the selecting baselines allow (undefined: any). */
  allowedProviders?: readonly Provider[] | undefined;
  /** HTTPRoute targets this policy wins, each with one rule (sectionName) or all, and its parent Gateways. */
  routes?: readonly RouteTarget[] | undefined;
  /** Whether a Service's named targetPort reaches the policy's sidecar in every pod behind it (the webhook moved it); unset: never known. */
  namedPortServed?: ((service: ServiceLike, name: string) => boolean) | undefined;
}

/** An HTTPRoute target as render needs it (src/render/gateway-api.ts reads the route and its parents). */
export interface RouteTarget {
  route: RouteLike;
  sectionName?: string | undefined;
  parents: readonly ParentInfo[];
}
