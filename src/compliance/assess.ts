// assess: the pure part of one reconcile after gathering — resolve the targets (found, conflicted), render,
// evaluate. Shared by the apisec CLI and the policy reconciler, so that `apisec check` reports exactly what
// the operator would write and put in status. Steps 4–6 of docs/architecture.md.
import type { ApiSecurityPolicySpec, TargetRef } from '../api/v1alpha1.ts';
import { routeBackendServices, routeParents, type GatewayClassLike, type GatewayLike, type RouteLike } from '../render/gateway-api.ts';
import { backendServices, render, type RenderOutput } from '../render/index.ts';
import type { IngressLike, OperatorSettings, PolicyRef, Provider, RenderInput, RouteTarget, ServiceLike } from '../render/types.ts';
import { governor, type PolicyClaim } from './claims.ts';
import { evaluate, type ComplianceOutput } from './evaluate.ts';
import { assertOutboundURLs } from './outbound.ts';
import { FILTER_MISSING } from '../render/traefik-routes.ts';
import { DATA_PLANE_REJECTED, type DataPlaneRefusal } from './data-plane-status.ts';

/** NotProgrammed: written, but not in the target's request path (a Traefik HTTPRoute without the filters). */
export type TargetState = 'Enforced' | 'Audit' | 'NotFound' | 'Conflicted' | 'Unsupported' | 'NotProgrammed';

export interface TargetOutcome {
  ref: TargetRef;
  state: TargetState;
  /** Why a target is NotProgrammed (FilterMissing, DataPlaneRejected). */
  reason?: string;
  object?: IngressLike | ServiceLike | RouteLike;
  message?: string;
  provider?: string;
  /** Conflicted because another field manager owns annotation keys the policy needs (not another policy). */
  ownedElsewhere?: boolean;
}

/** Objects of the policy's namespace, by name; and the Gateways and GatewayClasses routes attach to. */
export interface TargetLookup {
  ingress(name: string): IngressLike | undefined;
  service(name: string): ServiceLike | undefined;
  /** Absent where Gateway API objects are not known (then HTTPRoute targets are NotFound). */
  route?(name: string): RouteLike | undefined;
  gateway?(namespace: string, name: string): GatewayLike | undefined;
  gatewayClass?(name: string): GatewayClassLike | undefined;
}

export interface AssessInput {
  policy: PolicyRef & { creationTimestamp?: string };
  spec: ApiSecurityPolicySpec;
  /** The claims of the namespace's policies (compliance/claims.ts claimOf: neither invalid nor being deleted). */
  rivals: readonly PolicyClaim[];
  lookup: TargetLookup;
  settings: OperatorSettings;
  /** The data planes the selecting baselines allow (undefined: any). */
  allowedProviders?: readonly Provider[] | undefined;
  /** Auth hosts the selecting baselines allow, besides the operator's (settings.authHosts). */
  authHosts?: readonly string[] | undefined;
  /** Ingresses the operator must leave as they are, with why: another manager owns keys it would write. */
  held?: ReadonlyMap<string, string> | undefined;
  /** Gateways on which the data plane refused one of the policy's objects (data-plane-status.ts). */
  refusals?: readonly DataPlaneRefusal[] | undefined;
  /** With sidecar injection: whether a Service's named targetPort reaches the sidecar in every pod behind it. */
  namedPortServed?: RenderInput['namedPortServed'];
}

export interface Assessment {
  targets: TargetOutcome[];
  /** The Ingresses this policy wins (rendered even when their data plane turns out unsupported). */
  ingresses: IngressLike[];
  /** The Services behind the targets it wins (servicesBehind). */
  services: ServiceLike[];
  rendered: RenderOutput;
  compliance: ComplianceOutput;
}

const targetKey = (kind: string, name: string): string => `${kind}/${name}`;

/** Each target: found or not, and whether an older policy already governs it. */
export function resolveTargets(input: Pick<AssessInput, 'policy' | 'spec' | 'rivals' | 'lookup' | 'held'>): TargetOutcome[] {
  const { policy, spec, lookup } = input;
  const self: PolicyClaim = { name: policy.name, creationTimestamp: policy.creationTimestamp, targetRefs: spec.targetRefs };
  const contenders = [...input.rivals.filter((p) => p.name !== policy.name), self];
  const seen = new Set<string>();
  const out: TargetOutcome[] = [];
  for (const ref of spec.targetRefs) {
    const tk = targetKey(ref.kind, ref.name);
    const section = ref.sectionName === undefined ? tk : `${tk}#${ref.sectionName}`;
    if (seen.has(section)) continue;
    seen.add(section);
    const object = ref.kind === 'Ingress' ? lookup.ingress(ref.name) : ref.kind === 'Service' ? lookup.service(ref.name) : lookup.route?.(ref.name);
    if (!object) {
      out.push({ ref, state: 'NotFound', message: `${tk} not found in namespace ${policy.namespace}` });
      continue;
    }
    const winner = governor(contenders, ref.kind, ref.name);
    if (winner && winner.name !== policy.name) {
      out.push({ ref, state: 'Conflicted', object, message: `${tk} is governed by the older policy ${winner.name}` });
      continue;
    }
    const held = ref.kind === 'Ingress' ? input.held?.get(ref.name) : undefined;
    if (held !== undefined) {
      out.push({ ref, state: 'Conflicted', object, message: held, ownedElsewhere: true });
      continue;
    }
    out.push({ ref, state: spec.mode === 'Audit' ? 'Audit' : 'Enforced', object });
  }
  return out;
}

/** Target Services plus the backends of the target Ingresses and HTTPRoutes, those that exist. */
export function servicesBehind(won: TargetOutcome[], ingresses: IngressLike[], lookup: TargetLookup, routes: readonly RouteTarget[] = []): ServiceLike[] {
  const names = new Set([
    ...won.filter((t) => t.ref.kind === 'Service').map((t) => t.ref.name),
    ...backendServices(ingresses),
    ...routes.flatMap((r) => routeBackendServices(r.route, r.sectionName)),
  ]);
  return [...names].map((n) => lookup.service(n)).filter((s): s is ServiceLike => s !== undefined);
}

function annotateOutcomes(targets: TargetOutcome[], rendered: RenderOutput): void {
  for (const t of targets) {
    if (t.ref.kind === 'Service' || !t.object || t.state === 'Conflicted') continue;
    const r =
      t.ref.kind === 'Ingress'
        ? rendered.ingresses.find((i) => i.ingress === t.ref.name)
        : rendered.routes.find((i) => i.route === t.ref.name && i.sectionName === t.ref.sectionName);
    if (r?.problem) Object.assign(t, r.problem.reason === FILTER_MISSING ? { state: 'NotProgrammed', reason: FILTER_MISSING, message: r.problem.message } : { state: 'Unsupported', message: r.problem.message });
    if (r && 'plan' in r && r.plan) t.provider = r.plan.provider;
    // A route that does not chain the Middlewares still has its data plane.
    else if (r && 'provider' in r && r.provider) t.provider = r.provider;
    if (t.state === 'Audit') t.message = 'Audit mode: evaluated, nothing written';
  }
}

/** A route whose Gateway refused the policy's objects is not programmed, whatever was written for it. */
function applyRefusals(targets: TargetOutcome[], routes: readonly RouteTarget[], refusals: readonly DataPlaneRefusal[]): void {
  if (!refusals.length) return;
  for (const t of targets) {
    if (t.ref.kind !== 'HTTPRoute' || t.state !== 'Enforced' || t.provider !== 'envoy-gateway') continue;
    const parents = routes.find((r) => r.route.metadata.name === t.ref.name && r.sectionName === t.ref.sectionName)?.parents ?? [];
    const refused = refusals.filter((f) => parents.some((p) => p.gateway === f.gateway));
    if (refused.length) Object.assign(t, { state: 'NotProgrammed', reason: DATA_PLANE_REJECTED, message: refused.map((f) => f.message).join('; ') });
  }
}

/**
 * Resolve → render → evaluate for one valid policy. May throw what render throws (an unsafe value), and
 * OutboundURLError for an auth URL the allow-lists do not allow.
 */
export function assessPolicy(input: AssessInput): Assessment {
  assertOutboundURLs(input.spec, [...(input.settings.authHosts ?? []), ...(input.authHosts ?? [])]);
  const targets = resolveTargets(input);
  const won = targets.filter((t) => t.object && t.state !== 'Conflicted');
  const ingresses = won.filter((t) => t.ref.kind === 'Ingress').map((t) => t.object as IngressLike);
  const lookup = input.lookup;
  const parents = { gateway: (ns: string, n: string) => lookup.gateway?.(ns, n), gatewayClass: (n: string) => lookup.gatewayClass?.(n) };
  const routes: RouteTarget[] = won
    .filter((t) => t.ref.kind === 'HTTPRoute')
    .map((t) => ({ route: t.object as RouteLike, sectionName: t.ref.sectionName, parents: routeParents(t.object as RouteLike, parents) }));
  const services = servicesBehind(won, ingresses, lookup, routes);
  const policy = { name: input.policy.name, namespace: input.policy.namespace, uid: input.policy.uid };
  const rendered = render({ policy, spec: input.spec, ingresses, services, settings: input.settings, allowedProviders: input.allowedProviders, routes, namedPortServed: input.namedPortServed });
  annotateOutcomes(targets, rendered);
  applyRefusals(targets, routes, input.refusals ?? []);
  const live = targets.filter((t) => t.state === 'Enforced' || t.state === 'Audit');
  const compliance = evaluate({
    spec: input.spec,
    mode: input.spec.mode,
    ingresses: ingresses.filter((i) => live.some((t) => t.ref.kind === 'Ingress' && t.ref.name === i.metadata.name)),
    anyTarget: live.length > 0,
    fidelity: rendered.fidelity,
    networkSkipped: rendered.networkSkipped,
  });
  return { targets, ingresses, services, rendered, compliance };
}
