// apisec.dev/v1alpha1 ClusterApiSecurityPolicy: platform baselines (floors) for the namespaces its
// selector chooses. A namespace's ApiSecurityPolicy may tighten a floor, never loosen it: a looser
// value is reported as a violation and the floor is enforced instead (never a silent drop). A floor a
// policy does not mention is supplied by the baseline. Single source of truth for types and the CRD.
import { z } from 'zod';
import * as P from './patterns.ts';
import { Authentication, Condition, Cors, IpAccess, LabelSelector, Logging, Network, RateLimit, RequestLimits, Tls, Waf } from './v1alpha1.ts';

export const CLUSTER_KIND = 'ClusterApiSecurityPolicy';
export const CLUSTER_PLURAL = 'clusterapisecuritypolicies';

export const NetworkPeerBounds = z
  .object({
    minIPv4PrefixLength: z.number().int().min(0).max(32).default(8).describe('The widest IPv4 ipBlock a policy may admit (a prefix length; 8 allows a /8, not a /0).'),
    minIPv6PrefixLength: z.number().int().min(0).max(128).default(32).describe('The widest IPv6 ipBlock a policy may admit.'),
    allowAllNamespaces: z.boolean().default(false).describe('Whether a peer may select every namespace (an empty namespaceSelector without a podSelector).'),
  })
  .describe('Bounds on the callers a policy may admit in network.allowFrom; a peer outside them is a violation and is dropped.');

export const BaselineFloors = z
  .object({
    mode: z
      .enum(['Enforce'])
      .optional()
      .describe('Enforce: policies in the selected namespaces may not use Audit mode; an Audit policy is a violation and is enforced anyway.'),
    providers: z
      .array(z.enum(['ingress-nginx', 'traefik', 'haproxy', 'envoy-gateway']))
      .min(1)
      .max(4)
      .optional()
      .describe('The data planes policies may use; a target on another data plane is refused (ProviderNotAllowed).'),
    authEndpoints: z
      .array(z.string().min(8).max(512).regex(new RegExp(P.URL_PREFIX)))
      .min(1)
      .max(16)
      .optional()
      .describe(
        'URL prefixes (scheme://host[:port]/path) that authURL, signinURL and jwksURI must start with; a policy naming another endpoint is a violation, and gets the baseline authentication instead (or none).',
      ),
    authHosts: z
      .array(
        z
          .string()
          .min(1)
          .max(253)
          .regex(new RegExp(P.ALLOWED_HOST))
          .describe('An exact host (a DNS name or a dotted IPv4 address) or *.suffix for every name below a domain.'),
      )
      .min(1)
      .max(32)
      .optional()
      .describe(
        "Hosts that authURL and signinURL of the policies in the selected namespaces may name, besides the operator's --allowed-auth-host list. With any list, an auth URL on another host is refused (Accepted=False, OutboundURLRefused); an IP address or loopback name is allowed only when listed exactly.",
      ),
    networkPeers: NetworkPeerBounds.optional(),
    tls: Tls.optional(),
    authentication: Authentication.optional().describe('Authentication every API must have; a policy may choose another method, and gets this one when it sets none.'),
    rateLimit: RateLimit.optional().describe('The loosest rate limit allowed: a policy may set a lower rate, burst or connection limit; its key is fixed (a Header key lets a client rotate the header to escape the limit).'),
    requestLimits: RequestLimits.optional().describe('The largest body and the widest method and content-type lists allowed.'),
    ipAccess: IpAccess.optional().describe('Ranges always denied; when allow is set, policies may only allow ranges inside it.'),
    cors: Cors.optional().describe('The widest CORS allowed: policies may only list origins from it, and use credentials only if it does.'),
    waf: Waf.optional(),
    network: Network.optional(),
    logging: Logging.optional(),
  })
  .describe('Floors for the controls; each is optional.');
export type BaselineFloors = z.infer<typeof BaselineFloors>;

export const ClusterApiSecurityPolicySpec = z
  .object({
    namespaceSelector: LabelSelector.describe('The namespaces this baseline applies to; {} selects every namespace.'),
    floors: BaselineFloors,
    protectUncovered: z
      .boolean()
      .default(false)
      .describe(
        'Render the floors onto every Ingress of the selected namespaces that no policy targets (annotations, marked apisec.dev/baseline; no NetworkPolicy), so an API without a policy is still held to them. Without it such an Ingress is listed as uncovered.',
      ),
  })
  .describe('A platform baseline for the APIs of the selected namespaces.');
export type ClusterApiSecurityPolicySpec = z.infer<typeof ClusterApiSecurityPolicySpec>;

export const ClusterApiSecurityPolicyStatus = z
  .object({
    observedGeneration: z.number().int().min(0).optional(),
    conditions: z
      .array(Condition)
      .max(8)
      .optional()
      .describe('Ready (selects namespaces), Conflicted (with another baseline).')
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    selectedNamespaces: z.number().int().min(0).optional().describe('How many namespaces the selector chooses.'),
    policies: z.number().int().min(0).optional().describe('ApiSecurityPolicies in those namespaces.'),
    violations: z.number().int().min(0).optional().describe('Policies that try to loosen a floor.'),
    protectedAPIs: z.number().int().min(0).optional().describe('protectUncovered: Ingresses without a policy that carry the floors.'),
    unprotectable: z.number().int().min(0).optional().describe('protectUncovered: Ingresses without a policy that the floors cannot be written to (named in the Protecting condition).'),
  })
  .describe('Observed state, written by the operator.');
export type ClusterApiSecurityPolicyStatus = z.infer<typeof ClusterApiSecurityPolicyStatus>;

export interface ClusterApiSecurityPolicy {
  apiVersion: 'apisec.dev/v1alpha1';
  kind: typeof CLUSTER_KIND;
  metadata: { name: string; uid?: string; generation?: number; creationTimestamp?: string; deletionTimestamp?: string; resourceVersion?: string };
  spec: ClusterApiSecurityPolicySpec;
  status?: ClusterApiSecurityPolicyStatus;
}

export function parseBaselineSpec(spec: unknown): { ok: true; spec: ClusterApiSecurityPolicySpec } | { ok: false; message: string } {
  const res = ClusterApiSecurityPolicySpec.safeParse(spec);
  if (res.success) return { ok: true, spec: res.data };
  return {
    ok: false,
    message: res.error.issues
      .slice(0, 10)
      .map((i) => `spec${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`)
      .join('; '),
  };
}
