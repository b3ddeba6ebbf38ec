// The plan of one policy reconcile, decided without I/O from what it wants and what the caches show:
// the operator's annotation set on every Ingress the policy wins, a release on Ingresses that still carry
// its marker but are no longer its targets (or in Audit mode), and each owned object that differs from
// the cache or is no longer desired. All policies share one field manager, so an Ingress marked by
// another policy is never released here. Table tests: plan.test.ts.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { FIELD_MANAGER } from '../k8s/client.ts';
import type { KubeObject, Resources } from '../k8s/resources.ts';
import type { RenderOutput } from '../render/index.ts';
import { ANNOTATION_POLICY } from '../render/labels.ts';
import { annotationConflicts, type AnnotationConflict } from '../compliance/managed-fields.ts';
import { slimOwned } from './slim.ts';
import { annotationDrift, digestOf, ownedDrift, type DriftItem } from './drift.ts';
import { annotationsNeedApply, canonical, isSubset, ownedAnnotationKeys } from './state.ts';

export type OwnedResource = (typeof Resources)['networkPolicy' | 'configMap' | 'middleware' | 'securityPolicy' | 'backendTrafficPolicy'];

export interface Plan {
  /** The digest of everything desired (annotation sets and owned objects), recorded after a complete apply. */
  digest: string;
  /** `conflicts`: keys of `want` another manager owns with another value (an unforced apply is refused). */
  ingress: { name: string; want: Record<string, string>; conflicts: AnnotationConflict[] }[];
  /** The marker on HTTPRoute targets (apisec.dev/policy; {} releases it): nothing else of a route is written. */
  route: { name: string; want: Record<string, string> }[];
  apply: { r: OwnedResource; obj: KubeObject; existed: boolean }[];
  remove: { r: OwnedResource; obj: KubeObject }[];
  /** What differs, named, in case the policy had converged (then it is drift). */
  drift: DriftItem[];
  /** An object's cache still shows the version before our own last write. */
  waiting: boolean;
  /** Writes that cannot be made as things are (e.g. a data plane's CRD is missing), as messages. */
  blocked: string[];
}

export interface PlanInput {
  policy: string;
  namespace: string;
  mode: ApiSecurityPolicySpec['mode'];
  rendered: Pick<RenderOutput, 'ingresses'>;
  /** Names of the Ingresses this policy wins. */
  won: ReadonlySet<string>;
  /** The namespace's HTTPRoutes (the cache), and the names of those this policy wins. */
  routes?: readonly KubeObject[];
  wonRoutes?: ReadonlySet<string>;
  /** Every Ingress of the namespace (the cache). */
  ingresses: readonly KubeObject[];
  /** Owned objects wanted (empty in Audit mode). */
  desiredOwned: readonly KubeObject[];
  /** The owned objects of this policy in the cache, per resource the operator may write now. */
  existing: ReadonlyMap<OwnedResource, readonly KubeObject[]>;
  traefikServed: boolean;
  /** Whether the cache still shows the version before our own last write of this object. */
  behind: (key: string, cached: KubeObject | undefined) => boolean;
  /** Ingresses left exactly as they are: their annotations conflict with another manager's. */
  held?: ReadonlySet<string>;
}

export function planWrites(input: PlanInput): Plan {
  const plan: Plan = { digest: '', ingress: [], route: [], apply: [], remove: [], drift: [], waiting: false, blocked: [] };
  const desiredIngress = planIngresses(plan, input);
  const marked = planRouteMarkers(plan, input);
  planOwned(plan, input);
  plan.digest = digestOf({ ingresses: desiredIngress.sort(), owned: input.desiredOwned, ...(marked.length ? { routes: marked.sort() } : {}) });
  return plan;
}

/**
 * The marker apisec.dev/policy on every HTTPRoute the policy wins (Enforce mode), so that a user looking
 * at the route sees which policy governs it (HTTPRoute has no status.conditions for GEP-713's Affected
 * condition); released where it no longer wins. Only a marker: never taken from another manager.
 */
function planRouteMarkers(plan: Plan, input: PlanInput): string[] {
  const desired: string[] = [];
  for (const route of input.routes ?? []) {
    const name = route.metadata.name;
    const mine = input.mode === 'Enforce' && (input.wonRoutes?.has(name) ?? false);
    const marked = route.metadata.annotations?.[ANNOTATION_POLICY] === input.policy && ownedAnnotationKeys(route, FIELD_MANAGER).length > 0;
    if (!mine && !marked) continue;
    const want: Record<string, string> = mine ? { [ANNOTATION_POLICY]: input.policy } : {};
    if (mine) desired.push(name);
    if (input.behind(`HTTPRoute/${input.namespace}/${name}`, route)) {
      plan.waiting = true;
      continue;
    }
    if (!annotationsNeedApply(route, FIELD_MANAGER, want) || annotationConflicts(route, want, FIELD_MANAGER).length) continue;
    plan.route.push({ name, want });
    plan.drift.push(...annotationDrift(route, want));
  }
  return desired;
}

/** The annotation set each rendered Ingress should carry (Enforce mode only). */
function desiredAnnotations(plan: Plan, input: PlanInput): Map<string, Record<string, string>> {
  const desired = new Map<string, Record<string, string>>();
  if (input.mode !== 'Enforce') return desired;
  for (const r of input.rendered.ingresses) {
    if (!r.plan) continue;
    // Without its Middlewares a Traefik router is disabled (404): annotate nothing, report it.
    if (r.plan.provider === 'traefik' && !input.traefikServed) plan.blocked.push(`Ingress ${r.ingress}: Traefik's Middleware CRD (traefik.io/v1alpha1) is not installed`);
    else desired.set(r.ingress, r.plan.annotations);
  }
  return desired;
}

/** Plans the Ingresses; returns the canonical desired annotation sets for the digest. */
function planIngresses(plan: Plan, input: PlanInput): string[] {
  const { namespace: ns, won } = input;
  const desired = desiredAnnotations(plan, input);
  for (const ing of input.ingresses) {
    const name = ing.metadata.name;
    const mine = won.has(name);
    const marked = ing.metadata.annotations?.[ANNOTATION_POLICY] === input.policy;
    if ((!mine && !marked) || input.held?.has(name)) continue;
    if (mine && input.mode === 'Enforce' && !desired.has(name) && plan.blocked.some((b) => b.startsWith(`Ingress ${name}:`))) continue;
    if (!mine && ownedAnnotationKeys(ing, FIELD_MANAGER).length === 0) continue;
    const want = desired.get(name) ?? {};
    if (input.behind(`Ingress/${ns}/${name}`, ing)) {
      plan.waiting = true;
      continue;
    }
    if (!annotationsNeedApply(ing, FIELD_MANAGER, want)) continue;
    plan.ingress.push({ name, want, conflicts: annotationConflicts(ing, want, FIELD_MANAGER) });
    plan.drift.push(...annotationDrift(ing, want));
  }
  return [...desired].map(([n, a]) => `${n}:${canonical(a)}`);
}

function planOwned(plan: Plan, input: PlanInput): void {
  const ns = input.namespace;
  // A generated kind whose API is not served (Envoy Gateway's CRDs not installed) cannot be written: say so.
  const served = new Set<string>([...input.existing.keys()].map((r) => r.kind));
  // Traefik Ingresses already said so (desiredAnnotations); Middlewares for HTTPRoutes say it here.
  const traefikSaid = plan.blocked.some((b) => b.includes("Traefik's Middleware CRD"));
  for (const d of input.desiredOwned) {
    if (d.kind && !(d.kind === 'Middleware' && traefikSaid) && !served.has(d.kind)) plan.blocked.push(`${d.kind} ${d.metadata.name}: its API (${d.apiVersion ?? ''}) is not served by this cluster`);
  }
  for (const [r, existing] of input.existing) {
    const mine = input.desiredOwned.filter((d) => d.kind === r.kind);
    for (const d of mine) {
      const cur = existing.find((e) => e.metadata.name === d.metadata.name);
      if (input.behind(`${r.kind}/${ns}/${d.metadata.name}`, cur)) {
        plan.waiting = true;
        continue;
      }
      // Compared in the cached form (slim.ts: a ConfigMap's data as its digest).
      const want = slimOwned({ ...d, kind: r.kind });
      if (cur && isSubset(want, cur)) continue;
      plan.apply.push({ r, obj: d, existed: cur !== undefined });
      plan.drift.push(ownedDrift({ ...want, kind: r.kind }, cur));
    }
    for (const e of existing) {
      if (mine.some((d) => d.metadata.name === e.metadata.name)) continue;
      // Our own delete that the cache has not seen yet: neither another delete nor drift.
      if (input.behind(`${r.kind}/${ns}/${e.metadata.name}`, e)) {
        plan.waiting = true;
        continue;
      }
      plan.remove.push({ r, obj: e });
      plan.drift.push({ object: `${r.kind}/${e.metadata.name}`, field: 'created outside the operator with its labels' });
    }
  }
}
