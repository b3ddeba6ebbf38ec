// The I/O half of protectUncovered (the decisions are src/compliance/protect.ts): write the floors onto
// the uncovered Ingresses of the namespaces a baseline selects, and release what the baseline wrote when
// a policy takes the Ingress over, the namespace leaves the selector, or the baseline stops protecting.
import type { Logger } from 'pino';
import { ANNOTATION_BASELINE, decideProtection, type ProtectInput } from '../compliance/protect.ts';
import type { Baseline } from '../compliance/baseline.ts';
import { FIELD_MANAGER } from '../k8s/client.ts';
import { Resources, type KubeObject } from '../k8s/resources.ts';
import { ANNOTATION_POLICY } from '../render/labels.ts';
import type { IngressLike, OperatorSettings } from '../render/types.ts';
import type { PendingWrites } from './pending.ts';
import type { Actions, Caches } from './deps.ts';
import { annotationsNeedApply, ownedAnnotationKeys } from './state.ts';

export interface ProtectDeps {
  caches: Caches;
  actions: Actions;
  settings: OperatorSettings;
  pending: PendingWrites;
  baselinesFor: (namespace: string) => Baseline[];
}

export interface ProtectOutcome {
  protected: number;
  unprotectable: string[];
  writes: number;
}

/**
 * `selected`: the namespaces the baseline protects now (empty when it is gone or does not protect).
 * Every Ingress the baseline marked elsewhere is released.
 */
export async function reconcileProtection(deps: ProtectDeps, baseline: string, selected: ReadonlySet<string>, log: Logger): Promise<ProtectOutcome> {
  const out: ProtectOutcome = { protected: 0, unprotectable: [], writes: 0 };
  const apply = async (ing: KubeObject, want: Record<string, string>): Promise<void> => {
    const ns = ing.metadata.namespace ?? '';
    const key = `Ingress/${ns}/${ing.metadata.name}`;
    if (deps.pending.behind(key, ing)) return; // our own last write is not in the cache yet
    // Forced: floors are a cluster admin's (a ClusterApiSecurityPolicy), which outrank an annotation a
    // namespace user set on an uncovered Ingress; a tenant's policy never forces a first write.
    const after = await deps.actions.applyAnnotations(Resources.ingress, { namespace: ns, name: ing.metadata.name }, want, { force: true });
    deps.pending.wrote(key, ing.metadata.resourceVersion, (after as KubeObject | undefined)?.metadata?.resourceVersion);
    out.writes++;
    log.info({ ingress: `${ns}/${ing.metadata.name}`, keys: Object.keys(want).length }, Object.keys(want).length ? 'Applied baseline floors to uncovered Ingress' : 'Released baseline floors');
  };
  // Per namespace, once: the baselines that select it and its policies (not again for every Ingress).
  const byNamespace = new Map<string, Pick<ProtectInput, 'selecting' | 'policies'>>();
  const namespaceView = (ns: string): Pick<ProtectInput, 'selecting' | 'policies'> => {
    let view = byNamespace.get(ns);
    if (!view) {
      const policies = deps.caches.policies.list(ns).map((p) => ({ name: p.metadata.name, deleting: Boolean(p.metadata.deletionTimestamp), spec: p.spec }));
      view = { selecting: deps.baselinesFor(ns), policies };
      byNamespace.set(ns, view);
    }
    return view;
  };
  for (const ing of deps.caches.ingresses.list()) {
    const ns = ing.metadata.namespace ?? '';
    const ours = ing.metadata.annotations?.[ANNOTATION_BASELINE] === baseline;
    // Release only while no policy has written: the policy's apply (same field manager) already replaced
    // the baseline's keys, and an empty apply now would strip the policy's.
    const releasable = ours && ing.metadata.annotations?.[ANNOTATION_POLICY] === undefined && ownedAnnotationKeys(ing, FIELD_MANAGER).length > 0;
    if (!selected.has(ns)) {
      if (releasable) await apply(ing, {});
      continue;
    }
    const decision = decideProtection({ baseline, ...namespaceView(ns), ingress: ing as KubeObject & IngressLike, settings: deps.settings });
    if (decision.kind === 'governed') {
      if (releasable) await apply(ing, {});
    } else if (decision.kind === 'unprotectable') {
      out.unprotectable.push(`${ns}/${ing.metadata.name}: ${decision.reason}`);
      if (releasable) await apply(ing, {});
    } else {
      // Another protecting baseline (older, or first by name) may already hold it.
      const holder = ing.metadata.annotations?.[ANNOTATION_BASELINE];
      if (holder !== undefined && holder !== baseline && deps.caches.baselines.get(holder)) continue;
      out.protected++;
      if (annotationsNeedApply(ing, FIELD_MANAGER, decision.annotations)) await apply(ing, decision.annotations);
    }
  }
  return out;
}
