// apisec.dev/v1alpha1 ClusterApiSecurityPolicy: platform baselines (floors) for the namespaces its
// selector chooses. A namespace's ApiSecurityPolicy may tighten a floor, never loosen it: a looser
// value is reported as a violation and the floor is enforced instead (never a silent drop). A floor a
// policy does not mention is supplied by the baseline. Single source of truth for types and the CRD.
import { z } from 'zod';
import { Authentication, Condition, Cors, IpAccess, LabelSelector, Logging, Network, RateLimit, RequestLimits, Tls, Waf } from './v1alpha1.ts';

export const CLUSTER_KIND = 'ClusterApiSecurityPolicy';
export const CLUSTER_PLURAL = 'clusterapisecuritypolicies';

export const BaselineFloors = z
  .object({
    tls: Tls.optional(),
    authentication: Authentication.optional().describe('Authentication every API must have; a policy may choose another method, and gets this one when it sets none.'),
    rateLimit: RateLimit.optional().describe('The loosest rate limit allowed: a policy may set a lower rate, burst or connection limit.'),
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
