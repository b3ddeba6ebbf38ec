// The level-triggered reconcile of one ApiSecurityPolicy key:
//   gather (from caches) → render (pure) → evaluate (pure) → apply (SSA, only what differs) → status
//   (SSA, only when it changed).
// It never looks at which event caused it, so a coalesced or missed event cannot leave state wrong.
import type { Logger } from 'pino';
import { parseSpec, type ApiSecurityPolicy, type ApiSecurityPolicySpec, type ApiSecurityPolicyStatus, type Condition } from '../api/v1alpha1.ts';
import { parseBaselineSpec, type ClusterApiSecurityPolicyStatus } from '../api/cluster-v1alpha1.ts';
import { applyBaselines, matchesSelector, type Baseline, type BaselineResult } from '../compliance/baseline.ts';
import { compliantCondition, mergeConditions, type ConditionInput } from '../compliance/conditions.ts';
import { assessPolicy, claimedRefs, type Assessment, type TargetOutcome } from '../compliance/assess.ts';
import { FIELD_MANAGER } from '../k8s/client.ts';
import { isTransient } from '../k8s/errors.ts';
import { Resources, type KubeObject, type ResourceType } from '../k8s/resources.ts';
import type { RenderOutput } from '../render/index.ts';
import { ANNOTATION_POLICY, LABEL_POLICY, labelValue } from '../render/labels.ts';
import { UnsafeValueError } from '../render/sidecar-nginx.ts';
import { inert } from '../render/text.ts';
import type { IngressLike, OperatorSettings, PolicyRef, ServiceLike } from '../render/types.ts';
import { annotationDrift, describeDrift, digestOf, ownedDrift, RepairBudget, type DriftItem } from './drift.ts';
import { foreignConditions, foreignObjects, overrideConditions, type ForeignObject, type OwnershipLookup } from './ownership.ts';
import { PendingWrites } from './pending.ts';
import { reconcileProtection, type ProtectDeps, type ProtectOutcome } from './protect.ts';
import { annotationsNeedApply, canonical, isSubset, ownedAnnotationKeys } from './state.ts';

export const FINALIZER = 'apisec.dev/cleanup';

export interface Store<T> {
  get(key: string): T | undefined;
  list(namespace?: string): T[];
}

export interface Caches {
  policies: Store<ApiSecurityPolicy & KubeObject>;
  ingresses: Store<KubeObject>;
  services: Store<KubeObject>;
  networkPolicies: Store<KubeObject>;
  configMaps: Store<KubeObject>;
  /** Namespaces (for baseline selectors) and ClusterApiSecurityPolicy baselines. */
  namespaces: Store<KubeObject>;
  baselines: Store<KubeObject>;
  /** Traefik Middlewares the operator owns (empty while Traefik's CRDs are not served). */
  middlewares: Store<KubeObject>;
}

/** The writes a reconcile may make; implemented by src/k8s/apply.ts. */
/** Records an Event (best effort: resolves to the error instead of throwing). See src/k8s/apply.ts. */
export type RecordEvent = (
  regarding: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string },
  type: 'Normal' | 'Warning',
  reason: string,
  note: string,
  action: string,
) => Promise<Error | undefined>;

type OwnedResource = (typeof Resources)['networkPolicy' | 'configMap' | 'middleware'];

export interface Actions {
  applyOwned(r: OwnedResource, obj: KubeObject): Promise<unknown>;
  applyAnnotations(r: (typeof Resources)['ingress'], namespace: string, name: string, annotations: Record<string, string>): Promise<unknown>;
  recordEvent: RecordEvent;
  applyFinalizers(r: (typeof Resources)['policy'], namespace: string, name: string, finalizers: string[], uid?: string): Promise<void>;
  applyStatus(r: ResourceType, namespace: string | undefined, name: string, status: unknown): Promise<void>;
  delete(r: OwnedResource, namespace: string, name: string, uid?: string): Promise<void>;
  /** Reads one object by name (undefined when there is none), to see who owns a name before taking it. */
  get?(r: OwnedResource, namespace: string, name: string): Promise<KubeObject | undefined>;
}

export interface ReconcilerDeps {
  caches: Caches;
  actions: Actions;
  settings: OperatorSettings;
  now?: () => Date;
  /** Periodic re-check of a converged policy. */
  resyncMs?: number;
  /** How many drift repairs a policy may make in a window before it is called a fight. */
  repairBudget?: RepairBudget;
  onDrift?: (kinds: string[], fight: boolean) => void;
  /** Whether traefik.io Middlewares are served (and cached); without them Traefik Ingresses are left alone. */
  middlewaresServed?: () => boolean;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** Number of mutating requests made (for logs and tests). */
  writes: number;
}


interface Plan {
  /** Canonical desired annotation sets, for the digest. */
  desiredIngress: string[];
  ingress: { name: string; want: Record<string, string> }[];
  apply: { r: OwnedResource; obj: KubeObject; existed: boolean }[];
  remove: { r: OwnedResource; obj: KubeObject }[];
  /** What differs, named, in case the policy had converged (then it is drift). */
  drift: DriftItem[];
  /** An object's cache still shows the version before our own last write. */
  waiting: boolean;
  /** Writes that cannot be made as things are (e.g. a data plane's CRD is missing), as messages. */
  blocked: string[];
  /** Generated names taken by objects this policy does not own: then nothing is written. */
  foreign: ForeignObject[];
}

export class PolicyReconciler {
  private readonly deps: Required<ReconcilerDeps>;
  private readonly budget: RepairBudget;
  private readonly pending = new PendingWrites();

  constructor(deps: ReconcilerDeps) {
    this.deps = { now: () => new Date(), resyncMs: 10 * 60_000, repairBudget: new RepairBudget(), onDrift: () => undefined, middlewaresServed: () => true, ...deps };
    this.budget = this.deps.repairBudget;
  }

  /** Drops per-policy memory (called when a policy is gone). */
  forget(key: string): void {
    this.budget.forget(key);
  }

  async reconcile(namespace: string, name: string, log: Logger): Promise<ReconcileResult> {
    const { caches } = this.deps;
    const policy = caches.policies.get(`${namespace}/${name}`);
    const counter = { writes: 0 };
    if (!policy) {
      // Gone without our finalizer running (e.g. removed by force): clean up what carries its name.
      this.forget(`${namespace}/${name}`);
      await this.cleanup(namespace, name, counter, log);
      return { writes: counter.writes };
    }
    if (policy.metadata.deletionTimestamp) {
      if (policy.metadata.finalizers?.includes(FINALIZER)) {
        await this.cleanup(namespace, name, counter, log);
        await this.deps.actions.applyFinalizers(Resources.policy, namespace, name, [], policy.metadata.uid);
        counter.writes++;
        log.info('Released finalizer after cleanup');
      }
      return { writes: counter.writes };
    }
    if (!policy.metadata.finalizers?.includes(FINALIZER)) {
      await this.deps.actions.applyFinalizers(Resources.policy, namespace, name, [FINALIZER], policy.metadata.uid);
      counter.writes++;
    }

    const parsed = parseSpec(policy.spec);
    if (!parsed.ok) {
      // Terminal: nothing is changed on the targets; retried when the generation changes.
      await this.writeStatus(policy, this.invalidStatus(policy, parsed.message), counter);
      log.warn({ reason: 'InvalidSpec', detail: parsed.message }, 'Rejected invalid spec');
      return { writes: counter.writes };
    }
    const selecting = this.baselinesFor(namespace);
    const baseline = applyBaselines(parsed.spec, name, selecting);
    const spec = baseline.effective;
    const ref: PolicyRef = { name, namespace, uid: policy.metadata.uid ?? '' };
    let assessment: Assessment;
    try {
      assessment = assessPolicy({
        policy: { ...ref, ...(policy.metadata.creationTimestamp ? { creationTimestamp: policy.metadata.creationTimestamp } : {}) },
        spec,
        rivals: caches.policies.list(namespace).map((p) => ({
          name: p.metadata.name,
          ...(p.metadata.creationTimestamp ? { creationTimestamp: p.metadata.creationTimestamp } : {}),
          deleting: Boolean(p.metadata.deletionTimestamp),
          targetRefs: claimedRefs(p.spec),
        })),
        lookup: {
          ingress: (n) => caches.ingresses.get(`${namespace}/${n}`) as (KubeObject & IngressLike) | undefined,
          service: (n) => caches.services.get(`${namespace}/${n}`) as (KubeObject & ServiceLike) | undefined,
        },
        settings: this.deps.settings,
        allowedProviders: baseline.providers,
        authHosts: baseline.authHosts,
      });
    } catch (err) {
      if (!(err instanceof UnsafeValueError)) throw err;
      // Defence in depth: the schema should have refused it. Terminal, like an invalid spec.
      await this.writeStatus(policy, this.invalidStatus(policy, err.message, err.reason), counter);
      log.warn({ reason: err.reason, detail: err.message }, 'Refused to render an unsafe value');
      return { writes: counter.writes };
    }
    const { rendered } = assessment;
    const ingresses = assessment.ingresses as (KubeObject & IngressLike)[];

    const enforce = spec.mode === 'Enforce';
    const desiredOwned = enforce ? ([...rendered.networkPolicies, ...rendered.configMaps, ...rendered.middlewares] as unknown as KubeObject[]) : [];
    const plan = this.plan(policy, spec, rendered, ingresses, desiredOwned);
    await this.refuseForeignNames(plan, ref, log);
    const key = `${namespace}/${name}`;
    const digest = digestOf({ ingresses: [...plan.desiredIngress].sort(), owned: desiredOwned });
    const converged = policy.status?.appliedDigest === digest && policy.status?.observedGeneration === policy.metadata.generation;
    // Converged before, different now: someone else changed what we had applied.
    const drift = converged ? plan.drift : [];
    const fight = drift.length > 0 && !this.budget.allows(key);

    const errors: unknown[] = [];
    await this.applyPlan(policy, plan, ref, drift, fight, counter, errors, log);

    errors.push(...plan.blocked.map((b) => new Error(b)));
    const status = this.status(policy, spec, assessment, errors, { ...baseline, names: selecting.map((b) => b.name) });
    status.conditions = this.withDriftCondition(policy, status, drift, fight);
    status.conditions = this.withForeignConditions(policy, status, plan.foreign);
    const previousDigest = policy.status?.appliedDigest;
    if (errors.length === 0) status.appliedDigest = digest;
    else if (previousDigest) status.appliedDigest = previousDigest;
    await this.writeStatus(policy, status, counter);
    const transient = errors.find(isTransient);
    if (transient) throw transient;
    if (fight) return { writes: counter.writes, requeueAfterMs: this.budget.windowMs };
    // Our own write is not in the cache yet: look again shortly rather than mistake it for drift.
    if (plan.waiting) return { writes: counter.writes, requeueAfterMs: 1000 };
    return { writes: counter.writes, requeueAfterMs: errors.length ? Math.min(this.deps.resyncMs, 5 * 60_000) : this.deps.resyncMs };
  }

  /** The valid baselines whose namespaceSelector matches the namespace's labels. */
  baselinesFor(namespace: string): Baseline[] {
    const labels = this.deps.caches.namespaces.get(namespace)?.metadata.labels ?? { 'kubernetes.io/metadata.name': namespace };
    const out: Baseline[] = [];
    for (const b of this.deps.caches.baselines.list()) {
      if (b.metadata.deletionTimestamp) continue;
      const parsed = parseBaselineSpec(b.spec);
      if (parsed.ok && matchesSelector(labels, parsed.spec.namespaceSelector)) {
        out.push({ name: b.metadata.name, floors: parsed.spec.floors, protectUncovered: parsed.spec.protectUncovered, ...(b.metadata.creationTimestamp ? { creationTimestamp: b.metadata.creationTimestamp } : {}) });
      }
    }
    return out;
  }

  /** Status of one ClusterApiSecurityPolicy: what it selects, how many policies loosen it, conflicts. */
  async reconcileBaseline(name: string, log: Logger): Promise<ReconcileResult> {
    const b = this.deps.caches.baselines.get(name) as (KubeObject & { status?: ClusterApiSecurityPolicyStatus }) | undefined;
    const counter = { writes: 0 };
    if (!b || b.metadata.deletionTimestamp) {
      // Gone: release every Ingress it protected.
      return { writes: (await reconcileProtection(this.protectDeps(), name, new Set(), log)).writes };
    }
    const generation = b.metadata.generation ?? 0;
    const parsed = parseBaselineSpec(b.spec);
    let conds: ConditionInput[];
    const protecting = new Set<string>();
    let selected = 0;
    let policies = 0;
    let violations = 0;
    if (!parsed.ok) {
      conds = [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: parsed.message }];
    } else {
      const conflicts = new Set<string>();
      for (const ns of this.deps.caches.namespaces.list()) {
        if (!matchesSelector(ns.metadata.labels ?? {}, parsed.spec.namespaceSelector)) continue;
        selected++;
        if (parsed.spec.protectUncovered) protecting.add(ns.metadata.name);
        const all = this.baselinesFor(ns.metadata.name);
        for (const p of this.deps.caches.policies.list(ns.metadata.name)) {
          policies++;
          const spec = parseSpec(p.spec);
          if (!spec.ok) continue;
          const r = applyBaselines(spec.spec, p.metadata.name, all);
          if (r.violations.some((v) => v.baseline === name)) violations++;
        }
        for (const c of applyBaselines({ targetRefs: [], mode: 'Enforce', provider: 'auto' } as ApiSecurityPolicySpec, '-', all).conflicts) if (c.includes(name)) conflicts.add(c);
      }
      conds = [
        selected
          ? { type: 'Ready', status: 'True', reason: 'Selecting', message: `Selects ${selected} namespace(s) with ${policies} policy(ies)` }
          : { type: 'Ready', status: 'False', reason: 'SelectsNothing', message: 'The namespaceSelector matches no namespace' },
      ];
      if (conflicts.size) conds.push({ type: 'Conflicted', status: 'True', reason: 'ConflictingBaselines', message: [...conflicts].slice(0, 5).join('; ') });
    }
    const protection = await reconcileProtection(this.protectDeps(), name, protecting, log);
    counter.writes += protection.writes;
    if (parsed.ok && parsed.spec.protectUncovered) conds.push(protectingCondition(protection));
    const status: ClusterApiSecurityPolicyStatus = {
      observedGeneration: generation,
      conditions: mergeConditions(b.status?.conditions, conds, generation, this.deps.now()),
      selectedNamespaces: selected,
      policies,
      violations,
      ...(parsed.ok && parsed.spec.protectUncovered ? { protectedAPIs: protection.protected, unprotectable: protection.unprotectable.length } : {}),
    };
    if (canonical(b.status ?? {}) !== canonical(status)) {
      await this.deps.actions.applyStatus(Resources.baseline, undefined, name, status);
      counter.writes++;
      log.info({ selected, policies, violations }, 'Updated baseline status');
    }
    return { writes: counter.writes, requeueAfterMs: this.deps.resyncMs };
  }

  private protectDeps(): ProtectDeps {
    return { caches: this.deps.caches, actions: this.deps.actions, settings: this.deps.settings, pending: this.pending, baselinesFor: (ns) => this.baselinesFor(ns) };
  }

  /**
   * What must be written: the operator's annotation set on every Ingress this policy wins, a release
   * on Ingresses that still carry this policy's marker but are no longer its targets (or in Audit mode),
   * and each owned object that differs from the cache or is no longer desired. All policies share one
   * field manager, so an Ingress marked by another policy is never released here.
   */
  private plan(policy: ApiSecurityPolicy & KubeObject, spec: ApiSecurityPolicySpec, rendered: RenderOutput, won: IngressLike[], desiredOwned: KubeObject[]): Plan {
    const plan: Plan = { desiredIngress: [], ingress: [], apply: [], remove: [], drift: [], waiting: false, blocked: [], foreign: [] };
    this.planIngresses(plan, policy, spec, rendered, won);
    this.planOwned(plan, policy, desiredOwned);
    return plan;
  }

  private planIngresses(plan: Plan, policy: ApiSecurityPolicy & KubeObject, spec: ApiSecurityPolicySpec, rendered: RenderOutput, won: IngressLike[]): void {
    const ns = policy.metadata.namespace;
    const desired = new Map<string, Record<string, string>>();
    const traefikServed = this.deps.middlewaresServed();
    if (spec.mode === 'Enforce') {
      for (const r of rendered.ingresses) {
        if (!r.plan) continue;
        // Without its Middlewares a Traefik router is disabled (404): annotate nothing, report it.
        if (r.plan.provider === 'traefik' && !traefikServed) plan.blocked.push(`Ingress ${r.ingress}: Traefik's Middleware CRD (traefik.io/v1alpha1) is not installed`);
        else desired.set(r.ingress, r.plan.annotations);
      }
    }
    plan.desiredIngress = [...desired].map(([n, a]) => `${n}:${canonical(a)}`);
    const wonNames = new Set(won.map((i) => i.metadata.name));
    for (const ing of this.deps.caches.ingresses.list(ns)) {
      const name = ing.metadata.name;
      const marked = ing.metadata.annotations?.[ANNOTATION_POLICY] === policy.metadata.name;
      if (!wonNames.has(name) && !marked) continue;
      if (wonNames.has(name) && spec.mode === 'Enforce' && !desired.has(name) && plan.blocked.some((b) => b.startsWith(`Ingress ${name}:`))) continue;
      if (!wonNames.has(name) && marked && ownedAnnotationKeys(ing, FIELD_MANAGER).length === 0) continue;
      const want = desired.get(name) ?? {};
      if (this.pending.behind(`Ingress/${ns}/${name}`, ing)) {
        plan.waiting = true;
        continue;
      }
      if (!annotationsNeedApply(ing, FIELD_MANAGER, want)) continue;
      plan.ingress.push({ name, want });
      plan.drift.push(...annotationDrift(ing, want));
    }
  }

  private planOwned(plan: Plan, policy: ApiSecurityPolicy & KubeObject, desiredOwned: KubeObject[]): void {
    const ns = policy.metadata.namespace;
    const traefikServed = this.deps.middlewaresServed();
    for (const r of [Resources.networkPolicy, Resources.configMap, ...(traefikServed ? [Resources.middleware] : [])]) {
      const existing = this.owned(r, ns, policy.metadata.name);
      const mine = desiredOwned.filter((d) => d.kind === r.kind);
      for (const d of mine) {
        const cur = existing.find((e) => e.metadata.name === d.metadata.name);
        if (this.pending.behind(`${r.kind}/${ns}/${d.metadata.name}`, cur)) {
          plan.waiting = true;
          continue;
        }
        if (cur && isSubset(d, cur)) continue;
        plan.apply.push({ r, obj: d, existed: cur !== undefined });
        plan.drift.push(ownedDrift(r.kind, d.metadata.name, d, cur, isSubset));
      }
      for (const e of existing) {
        if (mine.some((d) => d.metadata.name === e.metadata.name)) continue;
        plan.remove.push({ r, obj: e });
        plan.drift.push({ object: `${r.kind}/${e.metadata.name}`, field: 'created outside the operator with its labels' });
      }
    }
  }

  /** Executes the plan, unless it would repair drift in a fight; reports drift either way. */
  private async applyPlan(
    policy: ApiSecurityPolicy & KubeObject,
    plan: Plan,
    ref: PolicyRef,
    drift: DriftItem[],
    fight: boolean,
    counter: { writes: number },
    errors: unknown[],
    log: Logger,
  ): Promise<void> {
    const kinds = drift.map((d) => d.object.split('/')[0] ?? '');
    if (fight) {
      this.deps.onDrift(kinds, true);
      log.warn({ drift: describeDrift(drift) }, 'Paused repairs: another writer keeps changing operator-owned fields');
      await this.event(policy, 'Warning', 'FightDetected', `Repairs paused: another writer keeps changing ${describeDrift(drift)}`, 'Repair', log);
      return;
    }
    await this.execute(plan, ref, counter, errors, log);
    if (!drift.length) return;
    this.budget.record(`${ref.namespace}/${ref.name}`);
    this.deps.onDrift(kinds, false);
    log.warn({ drift: describeDrift(drift) }, 'Repaired drift');
    await this.event(policy, 'Warning', 'DriftRepaired', `Repaired: ${describeDrift(drift)}`, 'Repair', log);
  }

  private async execute(plan: Plan, ref: PolicyRef, counter: { writes: number }, errors: unknown[], log: Logger): Promise<void> {
    const ns = ref.namespace;
    // Owned objects first (a Traefik router naming a missing Middleware is disabled), annotations next,
    // deletions last (after the annotations stopped naming them).
    for (const { r, obj, existed } of plan.apply) {
      try {
        const before = this.ownedCache(r).get(`${ns}/${obj.metadata.name}`)?.metadata.resourceVersion;
        const after = await this.deps.actions.applyOwned(r, obj);
        this.pending.wrote(`${r.kind}/${ns}/${obj.metadata.name}`, before, (after as KubeObject | undefined)?.metadata?.resourceVersion);
        counter.writes++;
        log.info({ [r.kind]: obj.metadata.name }, `${existed ? 'Updated' : 'Created'} ${r.kind}`);
      } catch (err) {
        errors.push(err);
        log.warn({ [r.kind]: obj.metadata.name, err: (err as Error).message }, `Failed to apply ${r.kind}`);
      }
    }
    for (const { name, want } of plan.ingress) {
      try {
        const before = this.deps.caches.ingresses.get(`${ns}/${name}`)?.metadata.resourceVersion;
        const after = await this.deps.actions.applyAnnotations(Resources.ingress, ns, name, want);
        this.pending.wrote(`Ingress/${ns}/${name}`, before, (after as KubeObject | undefined)?.metadata?.resourceVersion);
        counter.writes++;
        log.info({ ingress: name, keys: Object.keys(want).length }, Object.keys(want).length ? 'Applied Ingress annotations' : 'Released Ingress annotations');
      } catch (err) {
        errors.push(err);
        log.warn({ ingress: name, err: (err as Error).message }, 'Failed to apply Ingress annotations');
      }
    }
    for (const { r, obj } of plan.remove) {
      try {
        await this.deps.actions.delete(r, ns, obj.metadata.name, obj.metadata.uid);
        counter.writes++;
        log.info({ [r.kind]: obj.metadata.name }, `Deleted ${r.kind}`);
      } catch (err) {
        errors.push(err);
      }
    }
  }

  private async event(policy: ApiSecurityPolicy & KubeObject, type: 'Normal' | 'Warning', reason: string, note: string, action: string, log: Logger): Promise<void> {
    const regarding = { apiVersion: policy.apiVersion, kind: policy.kind, name: policy.metadata.name, namespace: policy.metadata.namespace, uid: policy.metadata.uid ?? '' };
    const err = await this.deps.actions.recordEvent(regarding, type, reason, note, action);
    if (err) log.warn({ err: err.message }, 'Failed to record Event');
  }

  /** Drifted stays True (naming the last drift) until the generation changes; False otherwise. */
  private withDriftCondition(policy: ApiSecurityPolicy & KubeObject, status: ApiSecurityPolicyStatus, drift: DriftItem[], fight: boolean): Condition[] {
    const generation = policy.metadata.generation ?? 0;
    const previous = policy.status?.conditions?.find((c) => c.type === 'Drifted');
    let next: ConditionInput;
    if (fight) next = { type: 'Drifted', status: 'True', reason: 'FightDetected', message: `Repairs paused: another writer keeps changing ${describeDrift(drift)}` };
    else if (drift.length) next = { type: 'Drifted', status: 'True', reason: 'DriftRepaired', message: `Repaired: ${describeDrift(drift)}` };
    else if (previous?.status === 'True' && previous.observedGeneration === generation) next = { type: 'Drifted', status: 'True', reason: previous.reason, message: previous.message };
    else next = { type: 'Drifted', status: 'False', reason: 'NoDrift', message: 'Everything the operator applied is as it applied it' };
    return [...(status.conditions ?? []), ...mergeConditions(policy.status?.conditions, [next], generation, this.deps.now())];
  }

  private ownedCache(r: OwnedResource): Store<KubeObject> {
    return r === Resources.configMap ? this.deps.caches.configMaps : r === Resources.middleware ? this.deps.caches.middlewares : this.deps.caches.networkPolicies;
  }

  private owned(r: OwnedResource, namespace: string, policyName: string): KubeObject[] {
    return this.ownedCache(r)
      .list(namespace).filter((o) => o.metadata.labels?.[LABEL_POLICY] === labelValue(policyName) && !o.metadata.deletionTimestamp);
  }

  private ownershipLookup(namespace: string): OwnershipLookup {
    const resource = (kind: string): OwnedResource | undefined => [Resources.networkPolicy, Resources.configMap, Resources.middleware].find((r) => r.kind === kind);
    const { actions } = this.deps;
    return {
      cached: (kind, name) => {
        const r = resource(kind);
        return r ? this.ownedCache(r).get(`${namespace}/${name}`) : undefined;
      },
      ...(actions.get
        ? {
            get: async (kind: string, name: string) => {
              const r = resource(kind);
              return r ? actions.get?.(r, namespace, name) : undefined;
            },
          }
        : {}),
    };
  }

  /**
   * A generated name taken by an object this policy does not own empties the plan: a forced apply would
   * take the object over (and garbage collection delete it with the policy), and a partial write could
   * leave an Ingress naming a Middleware someone else controls. The block keeps the digest unsettled.
   */
  private async refuseForeignNames(plan: Plan, ref: PolicyRef, log: Logger): Promise<void> {
    plan.foreign = await foreignObjects(plan.apply.map((a) => a.obj), ref.uid, this.ownershipLookup(ref.namespace));
    if (plan.foreign.length === 0) return;
    log.warn({ foreign: plan.foreign.map((f) => `${f.kind}/${f.name}`) }, 'Refused to take over objects this policy does not own');
    Object.assign(plan, { apply: [], ingress: [], remove: [], drift: [], waiting: false });
    plan.blocked.push(foreignConditions(plan.foreign)[1]?.message ?? 'generated names are taken');
  }

  /** Enforced=False and Conflicted=True, naming the owners, when generated names are taken. */
  private withForeignConditions(policy: ApiSecurityPolicy & KubeObject, status: ApiSecurityPolicyStatus, foreign: ForeignObject[]): Condition[] | undefined {
    if (foreign.length === 0) return status.conditions;
    return mergeConditions(policy.status?.conditions, overrideConditions(status.conditions ?? [], foreignConditions(foreign)), policy.metadata.generation ?? 0, this.deps.now());
  }

  /** Removes everything this policy wrote: its Ingress annotations and its generated objects. */
  private async cleanup(namespace: string, name: string, counter: { writes: number }, log: Logger): Promise<void> {
    for (const ing of this.deps.caches.ingresses.list(namespace)) {
      if (ing.metadata.annotations?.[ANNOTATION_POLICY] !== name) continue;
      if (ownedAnnotationKeys(ing, FIELD_MANAGER).length === 0) continue;
      await this.deps.actions.applyAnnotations(Resources.ingress, namespace, ing.metadata.name, {});
      counter.writes++;
      log.info({ ingress: ing.metadata.name }, 'Released Ingress annotations');
    }
    for (const r of [Resources.networkPolicy, Resources.configMap, Resources.middleware]) {
      for (const o of this.owned(r, namespace, name)) {
        await this.deps.actions.delete(r, namespace, o.metadata.name, o.metadata.uid);
        counter.writes++;
        log.info({ [r.kind]: o.metadata.name }, `Deleted ${r.kind}`);
      }
    }
  }

  private status(
    policy: ApiSecurityPolicy & KubeObject,
    spec: ApiSecurityPolicySpec,
    assessment: Assessment,
    errors: unknown[],
    baseline: BaselineResult & { names: string[] },
  ): ApiSecurityPolicyStatus {
    const { targets, rendered, compliance } = assessment;
    const live = targets.filter((t) => t.state === 'Enforced' || t.state === 'Audit');
    const conflicted = targets.filter((t) => t.state === 'Conflicted');
    const missing = targets.filter((t) => t.state === 'NotFound');
    const unsupported = targets.filter((t) => t.state === 'Unsupported');
    const conds: ConditionInput[] = [];
    conds.push(
      conflicted.length === targets.length
        ? { type: 'Accepted', status: 'False', reason: 'Conflicted', message: conflicted.map((t) => t.message).join('; ') }
        : { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'The policy is valid' },
    );
    conds.push(this.enforcedCondition(spec, live, missing, unsupported, conflicted, errors, rendered));
    const loosened = baseline.violations.map((v) => `${v.field} (${v.baseline}: ${v.message})`);
    conds.push(compliantCondition(spec.mode, compliance, live.length > 0, loosened));
    if (conflicted.length) conds.push({ type: 'Conflicted', status: 'True', reason: 'Conflicted', message: conflicted.map((t) => t.message).join('; ') });
    if (baseline.names.length) {
      conds.push(
        loosened.length
          ? { type: 'WithinBaseline', status: 'False', reason: 'LoosensBaseline', message: `Floors enforced instead: ${loosened.slice(0, 5).join('; ')}${loosened.length > 5 ? `; and ${loosened.length - 5} more` : ''}` }
          : { type: 'WithinBaseline', status: 'True', reason: 'WithinBaseline', message: `Within ${baseline.names.join(', ')}` },
      );
    }
    if (baseline.conflicts.length) conds.push({ type: 'BaselinesConflict', status: 'True', reason: 'ConflictingBaselines', message: baseline.conflicts.join('; ') });

    const generation = policy.metadata.generation ?? 0;
    const status: ApiSecurityPolicyStatus = {
      observedGeneration: generation,
      conditions: mergeConditions(policy.status?.conditions, conds, generation, this.deps.now()),
      score: compliance.score,
      ...(compliance.auditScore !== undefined ? { auditScore: compliance.auditScore } : {}),
      violations: compliance.violations + baseline.violations.length,
      controls: compliance.controls,
      targets: targets.map((t) => ({
        kind: t.ref.kind,
        name: t.ref.name,
        state: t.state,
        ...(t.provider ? { provider: t.provider } : {}),
        ...(t.message ? { message: inert(t.message, 1024) } : {}),
      })),
    };
    const generated = [...rendered.networkPolicies, ...rendered.configMaps, ...rendered.middlewares].map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name }));
    if (spec.mode === 'Enforce' && generated.length) status.generated = generated;
    if (baseline.provenance.length) status.effective = baseline.provenance;
    return status;
  }

  private enforcedCondition(
    spec: ApiSecurityPolicySpec,
    live: TargetOutcome[],
    missing: TargetOutcome[],
    unsupported: TargetOutcome[],
    conflicted: TargetOutcome[],
    errors: unknown[],
    rendered: RenderOutput,
  ): ConditionInput {
    const no = (reason: string, message: string): ConditionInput => ({ type: 'Enforced', status: 'False', reason, message });
    if (errors.length) return no('ApplyFailed', errors.map((e) => (e as Error).message.slice(0, 300)).join('; '));
    if (spec.mode === 'Audit') return no('AuditMode', 'Audit mode: controls are evaluated and reported, nothing is written');
    if (missing.length) return no('TargetNotFound', missing.map((t) => t.message).join('; '));
    if (unsupported.length) {
      const reason = rendered.ingresses.find((i) => i.problem)?.problem?.reason ?? 'Unsupported';
      return no(reason, unsupported.map((t) => t.message).join('; '));
    }
    if (live.length === 0 && conflicted.length) return no('Conflicted', 'Every target is governed by another policy');
    const ing = live.filter((t) => t.ref.kind === 'Ingress').length;
    return {
      type: 'Enforced',
      status: 'True',
      reason: 'Enforced',
      message: `Controls written to ${ing} Ingress(es), ${rendered.networkPolicies.length} NetworkPolicy(ies) and ${rendered.configMaps.length} sidecar ConfigMap(s)`,
    };
  }

  private invalidStatus(policy: ApiSecurityPolicy & KubeObject, message: string, reason = 'InvalidSpec'): ApiSecurityPolicyStatus {
    const generation = policy.metadata.generation ?? 0;
    return {
      ...policy.status,
      observedGeneration: generation,
      conditions: mergeConditions(
        policy.status?.conditions,
        [
          { type: 'Accepted', status: 'False', reason, message },
          { type: 'Enforced', status: 'False', reason, message: 'Not enforced: the spec is invalid' },
          { type: 'Compliant', status: 'Unknown', reason, message: 'Not evaluated: the spec is invalid' },
        ],
        generation,
        this.deps.now(),
      ),
    };
  }

  private async writeStatus(policy: ApiSecurityPolicy & KubeObject, status: ApiSecurityPolicyStatus, counter: { writes: number }): Promise<void> {
    if (canonical(policy.status ?? {}) === canonical(status)) return;
    await this.deps.actions.applyStatus(Resources.policy, policy.metadata.namespace, policy.metadata.name, status);
    counter.writes++;
  }
}

/** protectUncovered's condition on the baseline: how many uncovered Ingresses carry the floors, and which cannot. */
function protectingCondition(p: ProtectOutcome): ConditionInput {
  if (p.unprotectable.length === 0) return { type: 'Protecting', status: 'True', reason: 'FloorsWritten', message: `${p.protected} Ingress(es) without a policy carry the floors (annotations only: no NetworkPolicy)` };
  return {
    type: 'Protecting',
    status: 'False',
    reason: 'Unprotectable',
    message: `${p.protected} Ingress(es) carry the floors; ${p.unprotectable.length} cannot: ${p.unprotectable.slice(0, 5).join('; ')}${p.unprotectable.length > 5 ? `; and ${p.unprotectable.length - 5} more` : ''}`,
  };
}
