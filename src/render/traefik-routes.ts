// Traefik through Gateway API (its kubernetesGateway provider): the policy's Middlewares are the same
// as for an Ingress, but an HTTPRoute chains them only through ExtensionRef filters in its own rules.
// The route belongs to the user (and their GitOps tool), so the operator never edits its rules: it checks
// that every rule it governs names the Middlewares, in chain order, and says exactly which filters to
// add (or remove) when it does not. Pure.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import type { RouteLike, RouteRule } from './gateway-api.ts';
import { generatedName } from './labels.ts';
import { MIDDLEWARE_ORDER, TRAEFIK_GROUP, type TraefikMiddleware } from './traefik.ts';
import type { FidelityReport, PolicyRef } from './types.ts';

export const FILTER_MISSING = 'FilterMissing';

/** The filter, as a user writes it in the route's rule. */
const filterText = (name: string): string => `{type: ExtensionRef, extensionRef: {group: ${TRAEFIK_GROUP}, kind: Middleware, name: ${name}}}`;

/** The Middleware names an ExtensionRef filter list names, in order. */
function middlewareRefs(rule: RouteRule): string[] {
  return (rule.filters ?? []).filter((f) => f.type === 'ExtensionRef' && f.extensionRef?.group === TRAEFIK_GROUP && f.extensionRef.kind === 'Middleware').map((f) => f.extensionRef?.name ?? '');
}

const ruleLabel = (rule: RouteRule, index: number): string => (rule.name ? `rule ${rule.name}` : `rule ${index}`);

/**
 * Whether the route's rules (or the one named by sectionName) chain exactly the policy's Middlewares
 * (`middlewares`, in chain order). Other filters are the user's business; a reference to a Middleware
 * this policy would generate for a control it no longer declares is stale (Traefik disables a router
 * whose Middleware is missing), so it is named for removal.
 */
export function missingFilters(policy: PolicyRef, route: RouteLike, sectionName: string | undefined, middlewares: readonly TraefikMiddleware[]): string | undefined {
  const want = middlewares.map((m) => m.metadata.name);
  const possible = new Set(MIDDLEWARE_ORDER.map((c) => generatedName(policy, c)));
  const rules = (route.spec?.rules ?? []).map((rule, index) => ({ rule, index })).filter(({ rule }) => sectionName === undefined || rule.name === sectionName);
  const wrong: string[] = [];
  let first: string | undefined;
  for (const { rule, index } of rules) {
    const ours = middlewareRefs(rule).filter((n) => possible.has(n));
    if (ours.length === want.length && ours.every((n, i) => n === want[i])) continue;
    wrong.push(ruleLabel(rule, index));
    if (first !== undefined) continue;
    const stale = ours.filter((n) => !want.includes(n));
    const add = want.length ? `its filters must name, in this order: [${want.map(filterText).join(', ')}]` : 'it needs no Middleware of this policy';
    first = `${ruleLabel(rule, index)}: ${add}${stale.length ? `; remove ${stale.join(', ')} (no longer generated)` : ''}`;
  }
  if (!wrong.length) return undefined;
  const more = wrong.length > 1 ? ` (also ${wrong.slice(1).join(', ')})` : '';
  return `HTTPRoute ${route.metadata.name} does not chain the policy's Traefik Middlewares, so Traefik does not apply them; the operator does not edit a route's rules. In ${first}${more}`;
}

/** What changes for a control when Traefik serves an HTTPRoute rather than an Ingress. */
export function routeFidelity(spec: ApiSecurityPolicySpec): FidelityReport {
  if (!spec.logging) return {};
  return {
    Logging: {
      fidelity: 'Delegated',
      reason: "Traefik's static accessLog configuration decides: an HTTPRoute has no per-router switch (the Ingress annotation router.observability.accesslogs has no Gateway API equivalent)",
    },
  };
}
