// What the webhook reads for a pod's namespace: the informer caches every replica keeps warm
// (controller/manager.ts), never the API server, so an admission costs no request.
import type { Manager } from '../controller/manager.ts';
import type { GatewayClassLike, GatewayLike, RouteLike } from '../render/gateway-api.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import { sidecarConfigDigest } from '../controller/slim.ts';
import { sidecarConfigMapName } from '../render/sidecar-container.ts';
import type { ReviewContext } from './review.ts';

export function cacheContext(informers: Manager['informers'], opts: { operatorNamespace: string; image: string; native?: boolean }): ReviewContext {
  const { namespaces, policies, ingresses, services, httpRoutes, gateways, gatewayClasses, configMaps } = informers;
  return {
    ...opts,
    configDigest: (ns, policy) => sidecarConfigDigest(configMaps.get(`${ns}/${sidecarConfigMapName(policy)}`), policy.uid),
    namespace: (ns) => ({
      namespaceLabels: namespaces.get(ns)?.metadata.labels,
      policies: policies.list(ns),
      lookup: {
        ingress: (name) => ingresses.get(`${ns}/${name}`) as IngressLike | undefined,
        service: (name) => services.get(`${ns}/${name}`) as ServiceLike | undefined,
        route: (name) => httpRoutes.get(`${ns}/${name}`) as RouteLike | undefined,
        gateway: (gns, name) => gateways.get(`${gns}/${name}`) as GatewayLike | undefined,
        gatewayClass: (name) => gatewayClasses.get(name) as GatewayClassLike | undefined,
      },
    }),
  };
}
