// render: (policy, observed targets, settings) → everything the operator should write for it.
// Pure; one file per artifact or provider, composed here.
import { codeUnitOrder } from '../util/order.ts';
import type { ControlName } from '../api/v1alpha1.ts';
import { renderHaproxy } from './haproxy.ts';
import { renderIngressNginx } from './ingress-nginx.ts';
import { ANNOTATION_POLICY } from './labels.ts';
import { renderNetworkPolicies, type NetworkPolicyObject } from './network-policy.ts';
import { MAX_CONNECTIONS, MAX_SIZE_BYTES, sizeToBytes } from '../api/patterns.ts';
import { renderSidecarConfigMap, sidecarFidelity, UnsafeValueError, type SidecarConfigMap } from './sidecar-nginx.ts';
import { guardCheckURL } from './delegation.ts';
import { inert } from './text.ts';
import { renderTraefik, type TraefikMiddleware } from './traefik.ts';
import { guardServiceOf, renderEnvoyGateway, type EnvoyGatewayObject, type RouteRef } from './envoy-gateway.ts';
import { resolveRouteProvider } from './gateway-api.ts';
import { FILTER_MISSING, missingFilters, routeFidelity } from './traefik-routes.ts';

export { backendServices } from './network-policy.ts';
import type { DataPath, FidelityNote, FidelityReport, IngressLike, IngressPlan, IngressProvider, OperatorSettings, Provider, RenderInput, RouteProvider, ServiceLike } from './types.ts';

export type ProviderChoice<P extends Provider = IngressProvider> = { ok: true; provider: P } | { ok: false; reason: string; message: string };

/** `path`: the guard's check URL for the policy (when the operator knows a guard) and the trusted proxies. */
type ProviderRenderer = (
  spec: RenderInput['spec'],
  policy: RenderInput['policy'],
  path: DataPath,
) => { annotations: Record<string, string>; fidelity: FidelityReport; middlewares?: TraefikMiddleware[] };

const RENDERERS: Record<IngressProvider, ProviderRenderer> = {
  'ingress-nginx': (spec, policy, path) => renderIngressNginx(spec, policy.namespace, path.guard, path.store),
  haproxy: (spec) => renderHaproxy(spec),
  traefik: (spec, policy, path) => renderTraefik(policy, spec, '', path),
};

export function ingressClassOf(ing: IngressLike): string | undefined {
  return ing.spec?.ingressClassName ?? ing.metadata.annotations?.['kubernetes.io/ingress.class'];
}

/**
 * The data plane of an Ingress: the policy's explicit provider, or its class for auto. An explicit
 * provider that the class maps to another data plane is refused: that controller would ignore what is
 * written for the other one. `allowed` (from baselines) limits the data planes.
 */
export function resolveProvider(provider: 'auto' | IngressProvider, ing: IngressLike, settings: OperatorSettings, allowed?: readonly Provider[]): ProviderChoice {
  const choice = chooseProvider(provider, ing, settings);
  if (choice.ok && allowed && !allowed.includes(choice.provider)) {
    return { ok: false, reason: 'ProviderNotAllowed', message: `Ingress ${ing.metadata.name} is served by ${choice.provider}, which the baselines do not allow (allowed: ${allowed.join(', ')})` };
  }
  return choice;
}

function chooseProvider(provider: 'auto' | IngressProvider, ing: IngressLike, settings: OperatorSettings): ProviderChoice {
  const cls = ingressClassOf(ing);
  if (provider !== 'auto') {
    const served = cls === undefined ? undefined : settings.ingressClasses[cls];
    if (served && served !== provider) {
      return { ok: false, reason: 'ProviderMismatch', message: `spec.provider is ${provider}, but Ingress ${ing.metadata.name} has class "${inert(cls ?? '', 253, true)}", served by ${served}, which would ignore what is written for ${provider}` };
    }
    return { ok: true, provider };
  }
  if (!cls) return { ok: false, reason: 'NoIngressClass', message: `Ingress ${ing.metadata.name} has no ingressClassName; set spec.provider` };
  const p = settings.ingressClasses[cls];
  if (!p) {
    const known = Object.keys(settings.ingressClasses).sort().join(', ');
    // The class annotation is anyone's text: escaped and clipped to a class name's bound.
    return { ok: false, reason: 'UnknownIngressClass', message: `Ingress class "${inert(cls, 253, true)}" of ${ing.metadata.name} maps to no data plane (known: ${known}); set spec.provider` };
  }
  return { ok: true, provider: p };
}

export interface IngressResult {
  ingress: string;
  plan?: IngressPlan;
  problem?: { reason: string; message: string };
}

/** What became of one HTTPRoute target: its data plane, or why none is written for it. */
export interface RouteResult {
  route: string;
  sectionName?: string | undefined;
  provider?: RouteProvider;
  /** FilterMissing comes with a provider: the route is Traefik's, but its rules do not chain the Middlewares. */
  problem?: { reason: string; message: string };
}

export interface RenderOutput {
  ingresses: IngressResult[];
  routes: RouteResult[];
  /** Envoy Gateway's SecurityPolicy and BackendTrafficPolicy for the HTTPRoute targets, owned by the policy. */
  envoyGateway: EnvoyGatewayObject[];
  networkPolicies: NetworkPolicyObject[];
  /** The sidecar's nginx.conf, when spec.sidecar is enabled. */
  configMaps: SidecarConfigMap[];
  /** Traefik Middlewares the policy's Traefik Ingresses and HTTPRoutes chain, owned by the policy. */
  middlewares: TraefikMiddleware[];
  /** The Services given (targets and Ingress backends) that could not be isolated. */
  networkSkipped: { service: string; reason: string }[];
  /** Fidelity merged over all Ingresses: the weakest wins. */
  fidelity: FidelityReport;
  /** Whether the sidecar (when enabled) is in the request path of every Service behind the targets. */
  sidecar?: { inPath: boolean; reason?: string };
}

const RANK = { Exact: 0, Approximated: 1, Delegated: 2, Unsupported: 3 } as const;

/** How weak a note is: a note with unenforced parts is as weak as Unsupported. */
export const weakness = (n: FidelityNote): number => (n.unenforced?.length ? RANK.Unsupported : RANK[n.fidelity]);

/** The controls a data plane in front of the pods enforces, and whether the spec declares each. */
export const DECLARED: [ControlName, (spec: RenderInput['spec']) => boolean][] = [
  ['HTTPSOnly', (s) => Boolean(s.tls?.httpsOnly)],
  ['Authentication', (s) => s.authentication !== undefined],
  ['Authorization', (s) => s.authorization !== undefined],
  ['RateLimit', (s) => s.rateLimit !== undefined],
  ['IPAccess', (s) => Boolean(s.ipAccess?.allow?.length || s.ipAccess?.deny?.length)],
  ['CORS', (s) => s.cors !== undefined],
  ['RequestLimits', (s) => s.requestLimits !== undefined],
  ['WAF', (s) => Boolean(s.waf?.enabled)],
  ['Logging', (s) => Boolean(s.logging?.accessLog)],
];

/** Whether the spec declares a control that some component must enforce (NetworkIsolation: the NetworkPolicy). */
export function declares(spec: RenderInput['spec'], control: ControlName): boolean {
  return DECLARED.find(([c]) => c === control)?.[1](spec) ?? false;
}

/** The exact change a numeric targetPort past the sidecar needs (status, and the webhook's warning). */
export function manualWiring(service: string, index: number, sidecarPort: number): string {
  return `set its targetPort to ${sidecarPort}: kubectl patch service ${service} --type=json -p '[{"op":"replace","path":"/spec/ports/${index}/targetPort","value":${sidecarPort}}]'`;
}

/**
 * The sidecar enforces only what reaches it: every port of every Service behind the targets must send
 * traffic to the sidecar's port. A named targetPort cannot be checked from the Service alone: the
 * injection webhook moves that name to the sidecar in the pods it injects, which the Service does not show;
 * `namedPortServed` says whether it did so in every pod behind the Service (the pods' annotations).
 */
export function sidecarInPath(spec: RenderInput['spec'], services: readonly ServiceLike[], namedPortServed?: RenderInput['namedPortServed']): { inPath: boolean; reason?: string } {
  const port = spec.sidecar?.port;
  if (!spec.sidecar?.enabled || port === undefined) return { inPath: false, reason: 'the sidecar is not enabled' };
  if (services.length === 0) return { inPath: false, reason: 'no Service behind the targets sends traffic to it' };
  for (const svc of services) {
    for (const [index, p] of (svc.spec?.ports ?? []).entries()) {
      const target = p.targetPort ?? p.port;
      const name = svc.metadata.name;
      if (typeof target === 'string') {
        if (namedPortServed?.(svc, target)) continue;
        return { inPath: false, reason: `Service ${name} port ${p.port} targets the named port ${target}, which the operator cannot match to the sidecar's port ${port} (the injection webhook gives that name to the sidecar in the pods it injects)` };
      }
      if (target !== port) return { inPath: false, reason: `Service ${name} port ${p.port} sends traffic to ${target}, past the sidecar's port ${port}: manual wiring needed, ${manualWiring(name, index, port)}` };
    }
    if (!svc.spec?.ports?.length) return { inPath: false, reason: `Service ${svc.metadata.name} has no ports` };
  }
  return { inPath: true };
}

/**
 * A control the sidecar enforces better than the data plane is reported at the sidecar's fidelity —
 * but only when requests reach the sidecar.
 */
function mergeSidecar(fidelity: FidelityReport, spec: RenderInput['spec'], path: { inPath: boolean; reason?: string }, dataPath: DataPath): void {
  for (const [control, note] of Object.entries(sidecarFidelity(spec, dataPath)) as [ControlName, FidelityNote][]) {
    const prev = fidelity[control];
    if (path.inPath) {
      if (!prev || weakness(note) < weakness(prev)) fidelity[control] = note;
    } else if (prev && weakness(note) < weakness(prev)) {
      fidelity[control] = { ...prev, reason: [prev.reason, `the sidecar would enforce it, but ${path.reason ?? 'it is not in the request path'}`].filter(Boolean).join('; ') };
    }
  }
}

/** Without an Ingress in front, only the sidecar stands in the request path of a Service target. */
function serviceOnly(fidelity: FidelityReport, spec: RenderInput['spec'], services: readonly ServiceLike[], path: { inPath: boolean; reason?: string }): void {
  const names = services.map((s) => s.metadata.name).join(', ');
  for (const [control, declared] of DECLARED) {
    if (!declared(spec) || (path.inPath && fidelity[control])) continue;
    const why = !spec.sidecar?.enabled ? 'enable spec.sidecar or target an Ingress' : path.inPath ? 'the sidecar does not enforce it' : `the sidecar is not in the path: ${path.reason ?? ''}`;
    fidelity[control] = { fidelity: 'Unsupported', reason: `no component in the request path of Service ${names} enforces it (${why})` };
  }
}

/** The schema bounds again, at render time: a value a data plane refuses would stall its reloads. */
function assertBounds(spec: RenderInput['spec']): void {
  const size = spec.requestLimits?.maxBodySize;
  if (size !== undefined && (sizeToBytes(size) ?? Infinity) > MAX_SIZE_BYTES) throw new UnsafeValueError('requestLimits.maxBodySize is above 64Gi');
  if ((spec.rateLimit?.maxConnections ?? 0) > MAX_CONNECTIONS) throw new UnsafeValueError(`rateLimit.maxConnections is above ${MAX_CONNECTIONS}`);
}

/** Merges a data plane's notes into the policy's: the weakest note of a control wins. */
function mergeWeakest(fidelity: FidelityReport, notes: FidelityReport): void {
  for (const [control, note] of Object.entries(notes) as [ControlName, FidelityNote][]) {
    const prev = fidelity[control];
    if (!prev || weakness(note) > weakness(prev)) fidelity[control] = note;
  }
}

/** Adds Middlewares to the policy's list, once each (they are per policy, not per target). */
function addMiddlewares(into: TraefikMiddleware[], from: readonly TraefikMiddleware[]): void {
  for (const m of from) if (!into.some((x) => x.metadata.name === m.metadata.name)) into.push(m);
}

/**
 * The HTTPRoute targets: each route's data plane; one set of Envoy Gateway objects for those Envoy
 * Gateway serves; the policy's Traefik Middlewares for those Traefik serves, which their rules must
 * chain by ExtensionRef filters (FilterMissing until they do; the Middlewares are written anyway, so
 * that the filter can be added).
 */
function renderRoutes(input: RenderInput, fidelity: FidelityReport, dataPath: DataPath, middlewares: TraefikMiddleware[]): { results: RouteResult[]; objects: EnvoyGatewayObject[] } {
  const results: RouteResult[] = [];
  const envoy: RouteRef[] = [];
  let traefik: ReturnType<typeof renderTraefik> | undefined;
  for (const t of input.routes ?? []) {
    const name = t.route.metadata.name;
    const choice = resolveRouteProvider(t.route, t.parents, input.settings, input.allowedProviders);
    if (!choice.ok) {
      results.push({ route: name, sectionName: t.sectionName, problem: { reason: choice.reason, message: choice.message } });
      continue;
    }
    if (choice.provider === 'envoy-gateway') {
      results.push({ route: name, sectionName: t.sectionName, provider: choice.provider });
      envoy.push({ name, sectionName: t.sectionName });
      continue;
    }
    // The Middlewares are per policy: rendered once, whatever the number of routes.
    traefik ??= renderTraefik(input.policy, input.spec, name, dataPath);
    const out = traefik;
    addMiddlewares(middlewares, out.middlewares);
    const missing = missingFilters(input.policy, t.route, t.sectionName, out.middlewares);
    // A route that does not chain the Middlewares is not in their path: its notes would vouch for nothing.
    if (!missing) mergeWeakest(fidelity, { ...out.fidelity, ...routeFidelity(input.spec) });
    results.push({ route: name, sectionName: t.sectionName, provider: choice.provider, ...(missing ? { problem: { reason: FILTER_MISSING, message: missing } } : {}) });
  }
  if (!envoy.length) return { results, objects: [] };
  const out = renderEnvoyGateway(input.policy, input.spec, envoy, { guard: guardServiceOf(input.settings.guardURL) });
  mergeWeakest(fidelity, out.fidelity);
  return { results, objects: out.objects };
}

export function render(input: RenderInput): RenderOutput {
  const { spec, policy, settings } = input;
  assertBounds(spec);
  const results: IngressResult[] = [];
  const providers: Provider[] = [];
  const fidelity: FidelityReport = {};
  const middlewares: TraefikMiddleware[] = [];
  const dataPath: DataPath = { guard: settings.guardURL === undefined ? undefined : guardCheckURL(settings.guardURL, policy), trusted: settings.trustedProxies ?? [], store: settings.rateLimitStore };

  for (const ing of [...input.ingresses].sort((a, b) => codeUnitOrder(a.metadata.name, b.metadata.name))) {
    const choice = resolveProvider(spec.provider, ing, settings, input.allowedProviders);
    if (!choice.ok) {
      results.push({ ingress: ing.metadata.name, problem: { reason: choice.reason, message: choice.message } });
      continue;
    }
    providers.push(choice.provider);
    const out = RENDERERS[choice.provider](spec, policy, dataPath);
    // Traefik's Middlewares are per policy, the same for every Ingress that uses them.
    addMiddlewares(middlewares, out.middlewares ?? []);
    const annotations = { ...out.annotations, [ANNOTATION_POLICY]: policy.name };
    results.push({ ingress: ing.metadata.name, plan: { ingress: ing.metadata.name, provider: choice.provider, annotations, fidelity: out.fidelity } });
    mergeWeakest(fidelity, out.fidelity);
  }

  const routes = renderRoutes(input, fidelity, dataPath, middlewares);
  for (const r of routes.results) if (r.provider && !providers.includes(r.provider)) providers.push(r.provider);
  const servedRoute = routes.results.some((r) => r.provider && !r.problem);

  const net = renderNetworkPolicies(policy, spec, input.services, { providers, settings });
  if (spec.network?.defaultDeny) {
    fidelity.NetworkIsolation = net.skipped.length
      ? { fidelity: 'Approximated', reason: `not isolable: ${net.skipped.map((s) => s.service).join(', ')}` }
      : { fidelity: 'Exact', reason: 'needs a CNI that enforces NetworkPolicy' };
  }
  const path = sidecarInPath(spec, input.services, input.namedPortServed);
  mergeSidecar(fidelity, spec, path, dataPath);
  // Service targets with neither an Ingress nor a served HTTPRoute in front: only the sidecar is in the path.
  if (input.ingresses.length === 0 && !servedRoute && input.services.length > 0) serviceOnly(fidelity, spec, input.services, path);
  const sidecar = renderSidecarConfigMap(policy, spec, dataPath);
  return {
    ingresses: results,
    routes: routes.results,
    envoyGateway: routes.objects,
    networkPolicies: net.objects,
    configMaps: sidecar ? [sidecar] : [],
    middlewares,
    networkSkipped: net.skipped,
    fidelity,
    ...(spec.sidecar?.enabled ? { sidecar: path } : {}),
  };
}
