// NetworkPolicy for the pods behind each Service the policy protects (the Service targets and the
// backends of the Ingress targets): default deny, then allow only the ingress controller's pods and the
// declared callers, on the Service's target ports.
import { codeUnitOrder } from '../util/order.ts';
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { generatedName, ownedLabels, ownerReference } from './labels.ts';
import type { IngressLike, OperatorSettings, PolicyRef, Provider, ServiceLike } from './types.ts';

export interface NetworkPolicyObject {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    ownerReferences: ReturnType<typeof ownerReference>[];
  };
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: ['Ingress'];
    /** Absent when no caller is admitted: the API server drops an empty list, so it is never rendered. */
    ingress?: { from: Record<string, unknown>[]; ports: { protocol: string; port: number | string }[] }[];
  };
}

export interface NetworkPlan {
  objects: NetworkPolicyObject[];
  /** Services that could not be isolated, with the reason. */
  skipped: { service: string; reason: string }[];
}

/** Services named as backends by the Ingresses. */
export function backendServices(ingresses: IngressLike[]): string[] {
  const names = new Set<string>();
  for (const ing of ingresses) {
    const d = ing.spec?.defaultBackend?.service?.name;
    if (d) names.add(d);
    for (const rule of ing.spec?.rules ?? []) for (const p of rule.http?.paths ?? []) if (p.backend?.service?.name) names.add(p.backend.service.name);
  }
  return [...names].sort();
}

function selector(sel: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (sel?.matchLabels && Object.keys(sel.matchLabels).length) out.matchLabels = sel.matchLabels;
  if (sel?.matchExpressions?.length) out.matchExpressions = sel.matchExpressions;
  return out;
}

type Network = NonNullable<ApiSecurityPolicySpec['network']>;

/** The peers a policy admits: its ingress controllers' pods (those serving its Ingresses), selectors, CIDRs. */
function allowedPeers(net: Network, providers: Provider[], settings: OperatorSettings): Record<string, unknown>[] {
  const from: Record<string, unknown>[] = [];
  for (const peer of net.allowFrom) {
    if (peer.ingressController) {
      // The data planes that serve this policy's targets; with none resolved, every configured Ingress
      // controller (Envoy Gateway's proxies only for HTTPRoutes they serve).
      const chosen = providers.length ? providers : (Object.keys(settings.ingressControllers) as Provider[]).filter((p) => p !== 'envoy-gateway');
      for (const p of [...new Set(chosen)].sort()) {
        const c = settings.ingressControllers[p];
        if (c) from.push({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c.namespace } }, podSelector: { matchLabels: c.podLabels } });
      }
    }
    if (peer.namespaceSelector || peer.podSelector) {
      const entry: Record<string, unknown> = {};
      if (peer.namespaceSelector) entry.namespaceSelector = selector(peer.namespaceSelector);
      if (peer.podSelector) entry.podSelector = selector(peer.podSelector);
      from.push(entry);
    }
    if (peer.ipBlock) from.push({ ipBlock: peer.ipBlock.except?.length ? { cidr: peer.ipBlock.cidr, except: peer.ipBlock.except } : { cidr: peer.ipBlock.cidr } });
  }
  return from;
}

/** `providers`: the data planes of the policy's Ingresses, whose controller pods are admitted. */
export function renderNetworkPolicies(
  policy: PolicyRef,
  spec: ApiSecurityPolicySpec,
  services: ServiceLike[],
  { providers, settings }: { providers: Provider[]; settings: OperatorSettings },
): NetworkPlan {
  const plan: NetworkPlan = { objects: [], skipped: [] };
  const net = spec.network;
  if (!net?.defaultDeny) return plan;
  const from = allowedPeers(net, providers, settings);

  for (const svc of [...services].sort((x, y) => codeUnitOrder(x.metadata.name, y.metadata.name))) {
    const sel = svc.spec?.selector;
    if (!sel || Object.keys(sel).length === 0) {
      plan.skipped.push({ service: svc.metadata.name, reason: 'the Service has no selector, so its pods cannot be selected' });
      continue;
    }
    const ports = (svc.spec?.ports ?? []).map((p) => ({ protocol: p.protocol ?? 'TCP', port: p.targetPort ?? p.port }));
    plan.objects.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: generatedName(policy, svc.metadata.name),
        namespace: policy.namespace,
        labels: ownedLabels(policy),
        ownerReferences: [ownerReference(policy)],
      },
      spec: {
        podSelector: { matchLabels: sel },
        policyTypes: ['Ingress'],
        // No callers declared: policyTypes Ingress without rules denies everything. The rules are left out
        // rather than written as [], which the API server drops: the desired object must be what it stores.
        ...(from.length ? { ingress: [{ from, ports }] } : {}),
      },
    });
  }
  return plan;
}
