// Which APIs no policy protects, for `check` (offline) and `report` (against a cluster). The inventory
// itself lives in src/compliance/inventory.ts, shared with the operator's reports controller; this adds
// only what the CLI needs on top: the file and line each uncovered API came from.
import { apiInventory } from '../compliance/inventory.ts';
import type { RouteLike } from '../render/gateway-api.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import type { Location } from './documents.ts';
import type { ClaimingPolicy } from '../compliance/claims.ts';

export interface UncoveredApi {
  kind: 'Ingress' | 'Service' | 'HTTPRoute';
  namespace: string;
  name: string;
  /** Hosts of an Ingress, or the type of a Service. */
  detail: string;
  at?: Location;
}

interface Item<T> {
  object: T;
  at?: Location;
}

export interface CoverageInput {
  policies: readonly ClaimingPolicy[];
  ingresses: Item<IngressLike>[];
  services: Item<ServiceLike>[];
  routes?: Item<RouteLike>[];
  /** The baseline that selects a namespace, if any. */
  baselineFor?: (namespace: string) => string | undefined;
  /** The baseline whose floors an Ingress carries (or would carry), if any. */
  protectedBy?: (ingress: IngressLike) => string | undefined;
}

export function uncoveredApis({ policies, ingresses, services, routes = [], baselineFor, protectedBy }: CoverageInput): UncoveredApi[] {
  const where = new Map<string, Location | undefined>();
  for (const [kind, items] of [['Ingress', ingresses], ['Service', services], ['HTTPRoute', routes]] as const) {
    for (const { object, at } of items) where.set(`${kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`, at);
  }
  const entries = apiInventory({
    policies,
    ingresses: ingresses.map((i) => i.object),
    services: services.map((s) => s.object),
    routes: routes.map((r) => r.object),
    ...(baselineFor ? { baselineFor } : {}),
    ...(protectedBy ? { protectedBy } : {}),
  });
  return entries
    .filter((e) => e.coverage === 'none')
    .map((e) => {
      const at = where.get(`${e.kind}/${e.namespace}/${e.name}`);
      const detail = e.kind === 'Service' ? `type ${e.serviceType ?? ''}` : `hosts ${(e.hosts ?? []).join(', ')}`;
      return { kind: e.kind, namespace: e.namespace, name: e.name, detail, ...(at ? { at } : {}) };
    });
}
