// Who governs a target: the one rule that the operator's reconcilers, the inventory and PolicyReports,
// `apisec check` and `apisec report` all use, so they cannot disagree.
//   - A policy claims the Ingresses and Services its targetRefs name (each once).
//   - A policy claims nothing while it is being deleted, or when its spec is invalid: the operator refuses
//     such a policy (InvalidSpec) and writes nothing for it, so it protects nothing and must not block
//     a valid policy, nor make an API look covered.
//   - Of the policies claiming a target, the oldest governs (creationTimestamp, then name, both in
//     code-unit order: the same in every locale), as Gateway API policy attachment does.
import { codeUnitOrder } from '../util/order.ts';
import { parseSpec } from '../api/v1alpha1.ts';

export type TargetKind = 'Ingress' | 'Service' | 'HTTPRoute';

/** What conflict resolution needs of a policy: its age, name and target references. */
export interface PolicyClaim {
  name: string;
  creationTimestamp?: string | undefined;
  targetRefs: readonly { kind?: unknown; name?: unknown }[];
}

/** A policy object as the caches, the CLI's files and `kubectl get` give it. */
export interface ClaimingPolicy {
  metadata: { name: string; namespace?: string | undefined; creationTimestamp?: string | undefined; deletionTimestamp?: string | undefined };
  spec?: unknown;
}

/** Oldest first (creationTimestamp, then name): stable across restarts and independent of event order. */
export const olderFirst = (a: Pick<PolicyClaim, 'name' | 'creationTimestamp'>, b: Pick<PolicyClaim, 'name' | 'creationTimestamp'>): number =>
  codeUnitOrder(a.creationTimestamp ?? '', b.creationTimestamp ?? '') || codeUnitOrder(a.name, b.name);

/** The target references of a raw (not yet validated) spec. */
export function claimedRefs(spec: unknown): PolicyClaim['targetRefs'] {
  const refs = (spec as { targetRefs?: unknown } | null | undefined)?.targetRefs;
  return Array.isArray(refs) ? refs.filter((r): r is { kind?: unknown; name?: unknown } => r !== null && typeof r === 'object') : [];
}

/** The Ingresses and Services a raw spec names, each once, in order. */
export function claimedTargets(spec: unknown): { kind: TargetKind; name: string }[] {
  const seen = new Set<string>();
  const out: { kind: TargetKind; name: string }[] = [];
  for (const r of claimedRefs(spec)) {
    if ((r.kind !== 'Ingress' && r.kind !== 'Service' && r.kind !== 'HTTPRoute') || typeof r.name !== 'string' || seen.has(`${r.kind}/${r.name}`)) continue;
    seen.add(`${r.kind}/${r.name}`);
    out.push({ kind: r.kind, name: r.name });
  }
  return out;
}

// Informers replace an object on every change, so its spec object identifies one version: validity is
// computed once per version, not once per reconcile of every rival.
const validity = new WeakMap<object, boolean>();

/** Whether the spec passes the schema (the API server's CRD validation is the same schema). */
export function isValidSpec(spec: unknown): boolean {
  if (spec === null || typeof spec !== 'object') return false;
  let ok = validity.get(spec);
  if (ok === undefined) {
    ok = parseSpec(spec).ok;
    validity.set(spec, ok);
  }
  return ok;
}

/** The policy's claim, or undefined when it claims nothing (being deleted, or invalid). */
export function claimOf(p: ClaimingPolicy): PolicyClaim | undefined {
  if (p.metadata.deletionTimestamp || !isValidSpec(p.spec)) return undefined;
  return { name: p.metadata.name, creationTimestamp: p.metadata.creationTimestamp, targetRefs: claimedRefs(p.spec) };
}

/** The oldest of these claims, if any. */
export function oldest<C extends Pick<PolicyClaim, 'name' | 'creationTimestamp'>>(claims: Iterable<C>): C | undefined {
  let best: C | undefined;
  for (const c of claims) if (!best || olderFirst(c, best) < 0) best = c;
  return best;
}

/** Of these claims, the one that governs the target (the oldest claiming it), if any. */
export function governor<C extends PolicyClaim>(claims: readonly C[], kind: string, name: string): C | undefined {
  return oldest(claims.filter((c) => c.targetRefs.some((r) => r.kind === kind && r.name === name)));
}

/** The governing policy of every claimed target, by "namespace/Kind/name": built once per pass. */
export class ClaimIndex {
  private readonly byTarget = new Map<string, PolicyClaim>();

  constructor(policies: Iterable<ClaimingPolicy>) {
    for (const p of policies) {
      const claim = claimOf(p);
      if (!claim) continue;
      for (const t of claimedTargets(p.spec)) {
        const key = `${p.metadata.namespace ?? ''}/${t.kind}/${t.name}`;
        const current = this.byTarget.get(key);
        if (!current || olderFirst(claim, current) < 0) this.byTarget.set(key, claim);
      }
    }
  }

  governor(namespace: string, kind: TargetKind, name: string): PolicyClaim | undefined {
    return this.byTarget.get(`${namespace}/${kind}/${name}`);
  }
}
