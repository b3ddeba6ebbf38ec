// The reconcile of one ClusterApiSecurityPolicy (a baseline), keyed by its name: what it selects, how many
// policies loosen it, conflicts with other baselines, and — with protectUncovered — the floors written onto
// the Ingresses no policy targets (src/controller/protect.ts). The status is built by compliance/status.ts.
// Cluster-wide operators only: an operator limited to one namespace applies baselines to its policies but
// leaves their status to a cluster-wide one.
import { parseSpec, type ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { parseBaselineSpec, type ClusterApiSecurityPolicyStatus } from '../api/cluster-v1alpha1.ts';
import { applyBaselines, matchesSelector, type Baseline } from '../compliance/baseline.ts';
import { baselineStatus, type BaselineTally } from '../compliance/status.ts';
import { Resources, type KubeObject } from '../k8s/resources.ts';
import type { OperatorSettings } from '../render/types.ts';
import { dateOf } from '../util/clock.ts';
import type { Actions, Caches } from './deps.ts';
import type { PendingWrites } from './pending.ts';
import { reconcileProtection, type ProtectDeps } from './protect.ts';
import type { ReconcileContext, ReconcileOutcome, Reconciler } from './runtime.ts';
import { canonical } from './state.ts';

/** The valid baselines whose namespaceSelector matches the namespace's labels (unsorted: applyBaselines orders them). */
export function selectBaselines(caches: Pick<Caches, 'namespaces' | 'baselines'>, namespace: string): Baseline[] {
  const labels = caches.namespaces.get(namespace)?.metadata.labels ?? { 'kubernetes.io/metadata.name': namespace };
  const out: Baseline[] = [];
  for (const b of caches.baselines.list()) {
    if (b.metadata.deletionTimestamp) continue;
    const parsed = parseBaselineSpec(b.spec);
    if (parsed.ok && matchesSelector(labels, parsed.spec.namespaceSelector)) {
      out.push({ name: b.metadata.name, floors: parsed.spec.floors, protectUncovered: parsed.spec.protectUncovered, ...(b.metadata.creationTimestamp ? { creationTimestamp: b.metadata.creationTimestamp } : {}) });
    }
  }
  return out;
}

/** The conflicts between the baselines that select one namespace, whatever the policy. */
const EMPTY_SPEC = { targetRefs: [], mode: 'Enforce', provider: 'auto' } as unknown as ApiSecurityPolicySpec;
export const baselineConflicts = (selecting: Baseline[]): string[] => applyBaselines(EMPTY_SPEC, '-', selecting).conflicts;

export interface BaselineReconcilerDeps {
  caches: Caches;
  actions: Actions;
  settings: OperatorSettings;
  /** Shared with the policy reconciler: both write Ingress annotations. */
  pending: PendingWrites;
  resyncMs?: number;
}

type BaselineObject = KubeObject & { status?: ClusterApiSecurityPolicyStatus };

export class BaselineReconciler implements Reconciler {
  private readonly deps: BaselineReconcilerDeps;

  constructor(deps: BaselineReconcilerDeps) {
    this.deps = deps;
  }

  logFields(key: string): Record<string, unknown> {
    return { name: key };
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    const b = this.deps.caches.baselines.get(name) as BaselineObject | undefined;
    if (!b || b.metadata.deletionTimestamp) {
      // Gone: release every Ingress it protected.
      ctx.writes.add((await reconcileProtection(this.protectDeps(), name, new Set(), ctx.log)).writes);
      return undefined;
    }
    const parsed = parseBaselineSpec(b.spec);
    const protecting = new Set<string>();
    const tally = parsed.ok ? this.tally(name, parsed.spec.namespaceSelector, parsed.spec.protectUncovered ? protecting : undefined) : undefined;
    const protection = await reconcileProtection(this.protectDeps(), name, protecting, ctx.log);
    ctx.writes.add(protection.writes);
    const status = baselineStatus({
      generation: b.metadata.generation ?? 0,
      previous: b.status,
      tally,
      ...(parsed.ok ? {} : { invalid: parsed.message }),
      ...(parsed.ok && parsed.spec.protectUncovered ? { protection } : {}),
      now: dateOf(ctx.clock),
    });
    if (canonical(b.status ?? {}) !== canonical(status)) {
      await this.deps.actions.applyStatus(Resources.baseline, undefined, name, status);
      ctx.writes.add();
      ctx.log.info({ selected: status.selectedNamespaces, policies: status.policies, violations: status.violations }, 'Updated baseline status');
    }
    return { requeueAfterMs: this.deps.resyncMs ?? 10 * 60_000, resync: true };
  }

  /** Counts what the baseline selects; fills `protecting` with the namespaces it protects, if asked. */
  private tally(name: string, selector: Parameters<typeof matchesSelector>[1], protecting: Set<string> | undefined): BaselineTally {
    const { caches } = this.deps;
    const t = { selected: 0, policies: 0, violations: 0, conflicts: new Set<string>() };
    for (const ns of caches.namespaces.list()) {
      if (!matchesSelector(ns.metadata.labels ?? {}, selector)) continue;
      t.selected++;
      protecting?.add(ns.metadata.name);
      const all = selectBaselines(caches, ns.metadata.name);
      for (const p of caches.policies.list(ns.metadata.name)) {
        t.policies++;
        const spec = parseSpec(p.spec);
        if (spec.ok && applyBaselines(spec.spec, p.metadata.name, all).violations.some((v) => v.baseline === name)) t.violations++;
      }
      for (const c of baselineConflicts(all)) if (c.includes(name)) t.conflicts.add(c);
    }
    return { selected: t.selected, policies: t.policies, violations: t.violations, conflicts: [...t.conflicts] };
  }

  private protectDeps(): ProtectDeps {
    const { caches, actions, settings, pending } = this.deps;
    return { caches, actions, settings, pending, baselinesFor: (ns) => selectBaselines(caches, ns) };
  }
}
