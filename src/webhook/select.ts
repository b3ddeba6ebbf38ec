// Which policy's sidecar a new pod gets (pure): the pod must have opted in (its label, or its
// namespace's, never kube-system or the operator's own namespace), and a Service that selects it must be
// behind the targets of a valid, enforcing policy with `spec.sidecar.enabled` — the same Services the
// policy's NetworkPolicies and sidecar ConfigMap are rendered for (compliance/assess.ts), with the same
// rule for who governs a target (compliance/claims.ts); the opt-in rule is compliance/injection.ts. The
// webhook configuration's selectors say the same; this check is the second one, for a configuration
// that was edited or is older than the operator.
import { parseSpec, type ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { resolveTargets, servicesBehind, type TargetLookup } from '../compliance/assess.ts';
import { claimOf, olderFirst, type ClaimingPolicy, type PolicyClaim } from '../compliance/claims.ts';
import { optedIn, selects } from '../compliance/injection.ts';
import type { RouteLike } from '../render/gateway-api.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import { codeUnitOrder } from '../util/order.ts';

export interface PodLabels {
  labels?: Record<string, string> | undefined;
}

export interface SelectInput {
  namespace: string;
  /** The namespace's labels (undefined: not in the cache). */
  namespaceLabels: Record<string, string> | undefined;
  /** The operator's own namespace: never injected. */
  operatorNamespace: string;
  pod: PodLabels;
  /** The policies of the pod's namespace, as the cache holds them. */
  policies: readonly (ClaimingPolicy & { metadata: { uid?: string | undefined } })[];
  /** The namespace's Ingresses and Services by name (and HTTPRoutes, where known). */
  lookup: TargetLookup;
}

export type Selection =
  | { inject: false; reason: string }
  | { inject: true; policy: { name: string; namespace: string; uid?: string | undefined }; spec: ApiSecurityPolicySpec; sidecar: NonNullable<ApiSecurityPolicySpec['sidecar']>; services: ServiceLike[] };

// Informers replace an object on every change, so a spec object is one version: parsed once, not once per
// admitted pod (as compliance/claims.ts caches validity).
const parsedSpecs = new WeakMap<object, ReturnType<typeof parseSpec>>();
function parsedSpec(spec: unknown): ReturnType<typeof parseSpec> {
  if (spec === null || typeof spec !== 'object') return parseSpec(spec);
  let parsed = parsedSpecs.get(spec);
  if (!parsed) {
    parsed = parseSpec(spec);
    parsedSpecs.set(spec, parsed);
  }
  return parsed;
}

interface Candidate {
  claim: PolicyClaim;
  policy: SelectInput['policies'][number];
  spec: ApiSecurityPolicySpec;
  services: ServiceLike[];
}

/** The enforcing sidecar policies of the namespace with the Services behind them that select the pod. */
function candidates(input: SelectInput): Candidate[] {
  const rivals = input.policies.map(claimOf).filter((c): c is PolicyClaim => c !== undefined);
  const out: Candidate[] = [];
  for (const p of input.policies) {
    const claim = claimOf(p);
    if (!claim) continue;
    const parsed = parsedSpec(p.spec);
    if (!parsed.ok || !parsed.spec.sidecar?.enabled || parsed.spec.mode !== 'Enforce') continue;
    const spec = parsed.spec;
    // Most policies of a namespace target Services that do not select this pod: skip them before resolving.
    const mayCover = spec.targetRefs.some((r) => r.kind !== 'Service' || selects(input.lookup.service(r.name) ?? { metadata: { name: '' } }, input.pod.labels));
    if (!mayCover) continue;
    const policy = { name: p.metadata.name, namespace: input.namespace, uid: p.metadata.uid ?? '', creationTimestamp: p.metadata.creationTimestamp };
    const won = resolveTargets({ policy, spec, rivals, lookup: input.lookup }).filter((t) => t.object && t.state !== 'Conflicted');
    const ingresses = won.filter((t) => t.ref.kind === 'Ingress').map((t) => t.object as IngressLike);
    // Only a route's backends matter here, not the data plane its parents choose.
    const routes = won.filter((t) => t.ref.kind === 'HTTPRoute').map((t) => ({ route: t.object as RouteLike, sectionName: t.ref.sectionName, parents: [] }));
    const services = servicesBehind(won, ingresses, input.lookup, routes).filter((s) => selects(s, input.pod.labels));
    if (services.length > 0) out.push({ claim, policy: p, spec, services: services.sort((a, b) => codeUnitOrder(a.metadata.name, b.metadata.name)) });
  }
  return out.sort((a, b) => olderFirst(a.claim, b.claim));
}

/** The one policy whose sidecar the pod gets, or why it gets none. */
export function selectPolicy(input: SelectInput): Selection {
  const opted = optedIn(input);
  if (!opted.ok) return { inject: false, reason: opted.reason };
  const found = candidates(input);
  const [first, second] = found;
  if (!first) return { inject: false, reason: `no Service selecting the pod is behind an enforcing policy with spec.sidecar enabled in namespace ${input.namespace}` };
  if (second) {
    return { inject: false, reason: `the pod is behind Services of two policies with a sidecar (${first.claim.name}, ${second.claim.name}); a pod carries one sidecar` };
  }
  const { policy, spec } = first;
  return {
    inject: true,
    policy: { name: policy.metadata.name, namespace: input.namespace, uid: policy.metadata.uid },
    spec,
    sidecar: spec.sidecar!,
    services: first.services,
  };
}
