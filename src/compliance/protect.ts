// protectUncovered: a baseline that asks for it renders its floors onto every Ingress of the namespaces
// it selects that no policy targets, so an API nobody wrote a policy for is still held to the floors —
// or is named as unprotectable, never counted as covered by a baseline that wrote nothing. Pure: the
// reconciler gathers the Ingresses and policies and applies the plan.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import type { KubeObject } from '../k8s/resources.ts';
import { render } from '../render/index.ts';
import { ANNOTATION_POLICY } from '../render/labels.ts';
import type { IngressLike, OperatorSettings } from '../render/types.ts';
import { claimedTargets, isValidSpec, oldest } from './claims.ts';
import { applyBaselines, type Baseline, type BaselineResult } from './baseline.ts';
import { ownedAnnotationKeys } from './managed-fields.ts';

/** Marks an Ingress whose operator annotations a baseline wrote (a policy's are marked apisec.dev/policy). */
export const ANNOTATION_BASELINE = 'apisec.dev/baseline';

export interface ProtectInput {
  baseline: string;
  /** Every valid baseline that selects the namespace (the floors of all of them hold). */
  selecting: readonly Baseline[];
  ingress: IngressLike;
  /** The namespace's policies, valid or not, unvalidated: any live claim takes the Ingress. */
  policies: readonly { name: string; deleting?: boolean; spec?: unknown }[];
  settings: OperatorSettings;
}

export type ProtectDecision =
  | { kind: 'protect'; annotations: Record<string, string> }
  /** A policy governs the Ingress: the baseline leaves it alone (and releases what it wrote). */
  | { kind: 'governed'; policy: string }
  | { kind: 'unprotectable'; reason: string };

/** The floors of the selecting baselines as a policy of one Ingress target, enforced (with the data planes they allow). */
export function floorsOf(ingress: string, selecting: readonly Baseline[]): BaselineResult {
  const bare: ApiSecurityPolicySpec = { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: ingress }], mode: 'Enforce', provider: 'auto' };
  return applyBaselines(bare, '-', [...selecting]);
}

export function decideProtection(input: ProtectInput): ProtectDecision {
  const name = input.ingress.metadata.name;
  const claim = input.policies.find((p) => !p.deleting && isValidSpec(p.spec) && claimedTargets(p.spec).some((r) => r.kind === 'Ingress' && r.name === name));
  if (claim) return { kind: 'governed', policy: claim.name };
  const { effective: spec, providers } = floorsOf(name, input.selecting);
  const out = render({
    policy: { name: `baseline-${input.baseline}`, namespace: input.ingress.metadata.namespace ?? '', uid: '' },
    spec,
    ingresses: [input.ingress],
    services: [],
    settings: input.settings,
    allowedProviders: providers,
  });
  const r = out.ingresses[0];
  if (!r?.plan) return { kind: 'unprotectable', reason: r?.problem?.message ?? 'no data plane' };
  // Traefik's controls live in Middlewares that a policy owns; a baseline owns no namespaced objects.
  if (r.plan.provider === 'traefik') return { kind: 'unprotectable', reason: `Ingress ${name} is served by Traefik, whose controls need Middlewares owned by a policy` };
  const annotations = { ...r.plan.annotations };
  delete annotations[ANNOTATION_POLICY];
  if (Object.keys(annotations).length === 0) return { kind: 'unprotectable', reason: `the floors of ${input.baseline} write nothing to Ingress ${name}` };
  annotations[ANNOTATION_BASELINE] = input.baseline;
  return { kind: 'protect', annotations };
}

/**
 * The baseline whose floors an Ingress carries, read from what was written — and only if the marker is
 * the operator's own (its field manager applied it): anyone may set an annotation to hide an API.
 */
export function protectedByMarker(ing: Pick<KubeObject, 'metadata'>, manager: string): string | undefined {
  const marker = ing.metadata.annotations?.[ANNOTATION_BASELINE];
  return marker !== undefined && ownedAnnotationKeys(ing, manager).includes(ANNOTATION_BASELINE) ? marker : undefined;
}

/** What the operator would decide offline (apisec check): the oldest protecting baseline, if it can protect. */
export function wouldProtect(ingress: IngressLike, selecting: readonly Baseline[], policies: ProtectInput['policies'], settings: OperatorSettings): string | undefined {
  const holder = oldest(selecting.filter((b) => b.protectUncovered));
  if (!holder) return undefined;
  return decideProtection({ baseline: holder.name, selecting, ingress, policies, settings }).kind === 'protect' ? holder.name : undefined;
}
