// HTTPRoute targets (gateway.networking.k8s.io): which data plane serves a route, read from its parent
// Gateways' GatewayClass controllerName (mapped by --gateway-controller, as Ingress classes are by
// --ingress-class), and which Services stand behind it. Pure: the caller looks the parents up.
import { inert } from './text.ts';
import type { ObjectMeta, OperatorSettings, Provider, RouteProvider } from './types.ts';
import type { ProviderChoice } from './index.ts';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
}

export interface BackendRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  port?: number;
}

export interface RouteFilter {
  type: string;
  extensionRef?: { group: string; kind: string; name: string };
}

export interface RouteRule {
  name?: string;
  filters?: RouteFilter[];
  backendRefs?: BackendRef[];
}

export interface RouteLike {
  metadata: ObjectMeta;
  spec?: { parentRefs?: ParentRef[]; hostnames?: string[]; rules?: RouteRule[] };
}

export interface GatewayLike {
  metadata: ObjectMeta;
  spec?: { gatewayClassName?: string };
}

export interface GatewayClassLike {
  metadata: ObjectMeta;
  spec?: { controllerName?: string };
}

/** What the caller found of one parent Gateway: its class and that class's controller, if they exist. */
export interface ParentInfo {
  /** namespace/name of the Gateway. */
  gateway: string;
  found: boolean;
  className?: string | undefined;
  controller?: string | undefined;
}

export interface ParentLookup {
  gateway(namespace: string, name: string): GatewayLike | undefined;
  gatewayClass(name: string): GatewayClassLike | undefined;
}

/** The Gateways a route attaches to (parentRefs of kind Gateway; other parents are not data planes). */
export function routeParents(route: RouteLike, lookup: ParentLookup): ParentInfo[] {
  const ns = route.metadata.namespace ?? '';
  const out: ParentInfo[] = [];
  for (const p of route.spec?.parentRefs ?? []) {
    if ((p.group ?? GATEWAY_API_GROUP) !== GATEWAY_API_GROUP || (p.kind ?? 'Gateway') !== 'Gateway') continue;
    const gwNs = p.namespace ?? ns;
    const key = `${gwNs}/${p.name}`;
    if (out.some((o) => o.gateway === key)) continue;
    const gw = lookup.gateway(gwNs, p.name);
    const className = gw?.spec?.gatewayClassName;
    const controller = className ? lookup.gatewayClass(className)?.spec?.controllerName : undefined;
    out.push({ gateway: key, found: gw !== undefined, className, controller });
  }
  return out;
}

/**
 * The data plane of an HTTPRoute: every parent Gateway must be of a class whose controller maps to the
 * same data plane, or the objects written for it would be ignored on the other parents. `allowed` (from
 * baselines) limits the data planes.
 */
export function resolveRouteProvider(route: RouteLike, parents: readonly ParentInfo[], settings: OperatorSettings, allowed?: readonly Provider[]): ProviderChoice<RouteProvider> {
  const name = route.metadata.name;
  if (parents.length === 0) return { ok: false, reason: 'NoParentGateway', message: `HTTPRoute ${name} names no parent Gateway, so no data plane serves it` };
  const mapping = settings.gatewayControllers ?? {};
  const providers = new Set<RouteProvider>();
  for (const p of parents) {
    if (!p.found) return { ok: false, reason: 'ParentNotFound', message: `HTTPRoute ${name}: parent Gateway ${p.gateway} is not found (or not visible to the operator)` };
    const provider = p.controller ? mapping[p.controller] : undefined;
    if (!provider) {
      const cls = inert(p.className ?? '', 253, true);
      const controller = inert(p.controller ?? '(class not found)', 253, true);
      return { ok: false, reason: 'UnknownGatewayController', message: `HTTPRoute ${name}: Gateway ${p.gateway} has class "${cls}" of controller "${controller}", which maps to no data plane (known: ${Object.keys(mapping).sort().join(', ') || 'none'}); set --gateway-controller` };
    }
    providers.add(provider);
  }
  if (providers.size > 1) {
    return { ok: false, reason: 'MixedDataPlanes', message: `HTTPRoute ${name} attaches to Gateways of different data planes (${[...providers].sort().join(', ')}); what is written for one is ignored by the other, so target one data plane per route` };
  }
  const [provider] = [...providers];
  if (allowed && provider && !allowed.includes(provider)) {
    return { ok: false, reason: 'ProviderNotAllowed', message: `HTTPRoute ${name} is served by ${provider}, which the baselines do not allow (allowed: ${allowed.join(', ')})` };
  }
  return { ok: true, provider: provider! };
}

/** The Services of the route's namespace that its rules (or one rule, by sectionName) send traffic to. */
export function routeBackendServices(route: RouteLike, sectionName?: string): string[] {
  const ns = route.metadata.namespace;
  const names = new Set<string>();
  for (const rule of route.spec?.rules ?? []) {
    if (sectionName !== undefined && rule.name !== sectionName) continue;
    for (const b of rule.backendRefs ?? []) {
      if ((b.group ?? '') === '' && (b.kind ?? 'Service') === 'Service' && (b.namespace ?? ns) === ns) names.add(b.name);
    }
  }
  return [...names].sort();
}
