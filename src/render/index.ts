// render: (policy, observed targets, settings) → everything the operator should write for it.
// Pure; one file per artifact or provider, composed here.
import type { ControlName } from '../api/v1alpha1.ts';
import { renderHaproxy } from './haproxy.ts';
import { renderIngressNginx } from './ingress-nginx.ts';
import { ANNOTATION_POLICY } from './labels.ts';
import { renderNetworkPolicies, type NetworkPolicyObject } from './network-policy.ts';
import { renderSidecarConfigMap, sidecarFidelity, type SidecarConfigMap } from './sidecar-nginx.ts';
import { renderTraefik, type TraefikMiddleware } from './traefik.ts';

export { backendServices } from './network-policy.ts';
import type { FidelityReport, IngressLike, IngressPlan, OperatorSettings, Provider, RenderInput } from './types.ts';

export type ProviderChoice = { ok: true; provider: Provider } | { ok: false; reason: string; message: string };

type ProviderRenderer = (spec: RenderInput['spec'], policy: RenderInput['policy']) => { annotations: Record<string, string>; fidelity: FidelityReport; middlewares?: TraefikMiddleware[] };

const RENDERERS: Record<Provider, ProviderRenderer> = {
  'ingress-nginx': (spec, policy) => renderIngressNginx(spec, policy.namespace),
  haproxy: (spec) => renderHaproxy(spec),
  traefik: (spec, policy) => renderTraefik(policy, spec, ''),
};

export function ingressClassOf(ing: IngressLike): string | undefined {
  return ing.spec?.ingressClassName ?? ing.metadata.annotations?.['kubernetes.io/ingress.class'];
}

/** The data plane of an Ingress: the policy's explicit provider, or its class for auto. */
export function resolveProvider(provider: 'auto' | Provider, ing: IngressLike, settings: OperatorSettings): ProviderChoice {
  if (provider !== 'auto') return { ok: true, provider };
  const cls = ingressClassOf(ing);
  if (!cls) return { ok: false, reason: 'NoIngressClass', message: `Ingress ${ing.metadata.name} has no ingressClassName; set spec.provider` };
  const p = settings.ingressClasses[cls];
  if (!p) {
    const known = Object.keys(settings.ingressClasses).sort().join(', ');
    return { ok: false, reason: 'UnknownIngressClass', message: `Ingress class "${cls}" of ${ing.metadata.name} maps to no data plane (known: ${known}); set spec.provider` };
  }
  return { ok: true, provider: p };
}

export interface IngressResult {
  ingress: string;
  plan?: IngressPlan;
  problem?: { reason: string; message: string };
}

export interface RenderOutput {
  ingresses: IngressResult[];
  networkPolicies: NetworkPolicyObject[];
  /** The sidecar's nginx.conf, when spec.sidecar is enabled. */
  configMaps: SidecarConfigMap[];
  /** Traefik Middlewares the policy's Traefik Ingresses chain, owned by the policy. */
  middlewares: TraefikMiddleware[];
  /** The Services given (targets and Ingress backends) that could not be isolated. */
  networkSkipped: { service: string; reason: string }[];
  /** Fidelity merged over all Ingresses: the weakest wins. */
  fidelity: FidelityReport;
}

const RANK = { Exact: 0, Approximated: 1, Unsupported: 2 } as const;

export function render(input: RenderInput): RenderOutput {
  const { spec, policy, settings } = input;
  const results: IngressResult[] = [];
  const providers: Provider[] = [];
  const fidelity: FidelityReport = {};
  const middlewares: TraefikMiddleware[] = [];

  for (const ing of [...input.ingresses].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const choice = resolveProvider(spec.provider, ing, settings);
    if (!choice.ok) {
      results.push({ ingress: ing.metadata.name, problem: { reason: choice.reason, message: choice.message } });
      continue;
    }
    providers.push(choice.provider);
    const out = RENDERERS[choice.provider](spec, policy);
    // Traefik's Middlewares are per policy, the same for every Ingress that uses them.
    for (const m of out.middlewares ?? []) if (!middlewares.some((x) => x.metadata.name === m.metadata.name)) middlewares.push(m);
    const annotations = { ...out.annotations, [ANNOTATION_POLICY]: policy.name };
    results.push({ ingress: ing.metadata.name, plan: { ingress: ing.metadata.name, provider: choice.provider, annotations, fidelity: out.fidelity } });
    for (const [control, note] of Object.entries(out.fidelity) as [ControlName, NonNullable<FidelityReport[ControlName]>][]) {
      const prev = fidelity[control];
      if (!prev || RANK[note.fidelity] > RANK[prev.fidelity]) fidelity[control] = note;
    }
  }

  const net = renderNetworkPolicies(policy, spec, input.services, providers, settings);
  if (spec.network?.defaultDeny) {
    fidelity.NetworkIsolation = net.skipped.length
      ? { fidelity: 'Approximated', reason: `not isolable: ${net.skipped.map((s) => s.service).join(', ')}` }
      : { fidelity: 'Exact', reason: 'needs a CNI that enforces NetworkPolicy' };
  }
  // A control the sidecar enforces better than the data plane is reported at the sidecar's fidelity.
  for (const [control, note] of Object.entries(sidecarFidelity(spec)) as [ControlName, NonNullable<FidelityReport[ControlName]>][]) {
    const prev = fidelity[control];
    if (!prev || RANK[note.fidelity] < RANK[prev.fidelity]) fidelity[control] = note;
  }
  const sidecar = renderSidecarConfigMap(policy, spec);
  return {
    ingresses: results,
    networkPolicies: net.objects,
    configMaps: sidecar ? [sidecar] : [],
    middlewares,
    networkSkipped: net.skipped,
    fidelity,
  };
}
