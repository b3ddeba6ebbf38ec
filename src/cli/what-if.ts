// `apisec render --provider P`: what the operator would write for the same policies on another data plane,
// and how each control's fidelity changes against the data plane the Ingress is on today — the second step
// off ingress-nginx after `apisec import`. An Ingress data plane (traefik, haproxy, ingress-nginx) is
// rendered as if every Ingress class mapped to it; envoy-gateway as if each target Ingress were an HTTPRoute
// of the same name on an Envoy Gateway Gateway. Pure, on top of assessInventory.
import type { ControlName } from '../api/v1alpha1.ts';
import { guardServiceOf, renderEnvoyGateway } from '../render/envoy-gateway.ts';
import { servicesBehind } from '../compliance/assess.ts';
import { ingressClassOf } from '../render/index.ts';
import { renderNetworkPolicies } from '../render/network-policy.ts';
import { inert } from '../render/text.ts';
import type { FidelityNote, FidelityReport, IngressProvider, OperatorSettings, Provider } from '../render/types.ts';
import { assessInventory, type Assessed } from './check.ts';
import type { Inventory } from './inventory.ts';
import { writtenObjects, type WrittenObject } from './render-output.ts';

export const WHAT_IF_PROVIDERS: readonly Provider[] = ['ingress-nginx', 'traefik', 'haproxy', 'envoy-gateway'];

export interface FidelityChange {
  control: ControlName;
  from?: FidelityNote | undefined;
  to?: FidelityNote | undefined;
}

export interface Comparison {
  /** namespace/name of the policy. */
  policy: string;
  /** The data planes of its Ingresses today. */
  from: string[];
  changes: FidelityChange[];
}

export interface WhatIf {
  objects: WrittenObject[];
  comparisons: Comparison[];
  notes: string[];
}

const same = (a: FidelityNote | undefined, b: FidelityNote | undefined): boolean =>
  a?.fidelity === b?.fidelity && a?.reason === b?.reason && (a?.unenforced ?? []).join('\n') === (b?.unenforced ?? []).join('\n');

function changes(from: FidelityReport, to: FidelityReport): FidelityChange[] {
  const controls = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort() as ControlName[];
  return controls.filter((c) => !same(from[c], to[c])).map((control) => ({ control, from: from[control], to: to[control] }));
}

const key = (a: Assessed): string => `${a.policy.object.metadata.namespace}/${a.policy.object.metadata.name}`;

/** The policies' objects and fidelity on `provider`, compared with today's. */
export function whatIf(inv: Inventory, settings: OperatorSettings, provider: Provider): WhatIf {
  const base = assessInventory(inv, settings).assessed.filter((a) => a.spec.mode === 'Enforce');
  const fromOf = (a: Assessed): string[] => [...new Set(a.assessment.targets.map((t) => t.provider).filter((p): p is string => p !== undefined))].sort();
  if (provider === 'envoy-gateway') return onEnvoyGateway(inv, base, { settings, fromOf });
  // Every class the input's Ingresses name, and every configured one, served by the chosen data plane.
  const classes: Record<string, IngressProvider> = Object.fromEntries(Object.keys(settings.ingressClasses).map((c) => [c, provider]));
  for (const i of inv.ingresses) {
    const cls = ingressClassOf(i.object);
    if (cls) classes[cls] = provider;
  }
  // A policy's explicit provider names today's data plane: the what-if asks for another one.
  const retargeted: Inventory = { ...inv, policies: inv.policies.map((p) => ({ ...p, object: { ...p.object, spec: { ...(p.object.spec as object), provider: 'auto' } } })) };
  const alt = assessInventory(retargeted, { ...settings, ingressClasses: classes }).assessed;
  const { objects, notes } = writtenObjects(alt);
  const comparisons = base.map((a) => ({ policy: key(a), from: fromOf(a), changes: changes(a.assessment.rendered.fidelity, alt.find((b) => key(b) === key(a))?.assessment.rendered.fidelity ?? {}) }));
  return { objects, comparisons, notes };
}

function onEnvoyGateway(inv: Inventory, base: Assessed[], { settings, fromOf }: { settings: OperatorSettings; fromOf: (a: Assessed) => string[] }): WhatIf {
  const objects: WrittenObject[] = [];
  const comparisons: Comparison[] = [];
  const notes: string[] = [];
  const guard = guardServiceOf(settings.guardURL);
  for (const a of base) {
    const { name, namespace, uid } = a.policy.object.metadata;
    const routes = a.assessment.ingresses.map((i) => ({ name: i.metadata.name }));
    if (!routes.length) {
      notes.push(`${key(a)}: no target Ingress to carry over to an HTTPRoute`);
      continue;
    }
    const out = renderEnvoyGateway({ name, namespace, uid: uid ?? '' }, a.spec, routes, { guard });
    for (const o of out.objects) objects.push({ policy: key(a), object: o as unknown as Record<string, unknown> });
    // The pods behind stay isolated, admitting Envoy Gateway's proxies instead of the ingress controller.
    const mine = inv.services.map((s) => s.object).filter((s) => s.metadata.namespace === namespace);
    const won = a.assessment.targets.filter((t) => t.object && t.state !== 'Conflicted');
    const services = servicesBehind(won, a.assessment.ingresses, { ingress: () => undefined, service: (n) => mine.find((s) => s.metadata.name === n) });
    const net = renderNetworkPolicies({ name, namespace, uid: uid ?? '' }, a.spec, services, { providers: ['envoy-gateway'], settings });
    for (const np of net.objects) objects.push({ policy: key(a), object: np as unknown as Record<string, unknown> });
    const ingressOnly: FidelityReport = { ...a.assessment.rendered.fidelity };
    delete ingressOnly.NetworkIsolation;
    comparisons.push({ policy: key(a), from: fromOf(a), changes: changes(ingressOnly, out.fidelity) });
    notes.push(`${key(a)}: targets HTTPRoutes named as its Ingresses (${routes.map((r) => r.name).join(', ')}); set targetRefs to group gateway.networking.k8s.io, kind HTTPRoute`);
  }
  return { objects, comparisons, notes };
}

const describe = (n: FidelityNote | undefined): string => {
  if (!n) return 'not declared for it';
  const why = n.reason ? `${n.fidelity}: ${n.reason}` : n.fidelity;
  return n.unenforced?.length ? `${why}; not enforced: ${n.unenforced.join('; ')}` : why;
};

/** The comparison as YAML comment lines (inert: reasons quote the policy's own values). */
export function formatComparisons(comparisons: readonly Comparison[], provider: Provider): string {
  const lines: string[] = [];
  for (const c of comparisons) {
    lines.push(`# ${inert(c.policy, 320, true)}: ${c.from.join(', ') || '(no data plane today)'} → ${provider}${c.changes.length ? '' : ': every control as today'}`);
    for (const ch of c.changes) {
      lines.push(`#   ${ch.control}`);
      lines.push(`#     now:   ${inert(describe(ch.from), 900, true)}`);
      lines.push(`#     there: ${inert(describe(ch.to), 900, true)}`);
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
