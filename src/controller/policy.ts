// The level-triggered reconcile of one ApiSecurityPolicy key `namespace/name`:
//   gather (from caches) → baselines → assess (pure: targets, render, evaluate) → plan (pure) → apply
//   only what differs → status (pure, compliance/status.ts; written only when it changed).
// It never looks at which event caused it, so a coalesced or missed event cannot leave state wrong.
import { createHash } from 'node:crypto';
import type { GatewayClassLike, GatewayLike, RouteLike } from '../render/gateway-api.ts';
import { parseSpec, type ApiSecurityPolicy, type ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { applyBaselines } from '../compliance/baseline.ts';
import { assessPolicy, type AssessInput, type Assessment } from '../compliance/assess.ts';
import { mergeConditions } from '../compliance/conditions.ts';
import { claimOf, type PolicyClaim } from '../compliance/claims.ts';
import { CLIENT_CA_USE, secretRefusal, type SecretUse } from '../compliance/secret-consent.ts';
import { dataPlaneRefusals, type DataPlaneRefusal } from '../compliance/data-plane-status.ts';
import { sidecarCoverage, sidecarServesName, type PodMeta, type SidecarCoverage } from '../compliance/injection.ts';
import { describeAnnotationConflicts } from '../compliance/managed-fields.ts';
import { converged, driftCondition, failedStatus, fightConditions, generatedObjects, policyStatus, recordedDigest, refusedStatus, suspiciousCondition, type SuspiciousEvent } from '../compliance/status.ts';
import { storeCondition } from '../compliance/store-status.ts';
import { FIELD_MANAGER } from '../k8s/client.ts';
import { TerminalError, failureReason, isTransient } from '../k8s/errors.ts';
import { Resources, type KubeObject } from '../k8s/resources.ts';
import { ANNOTATION_POLICY, LABEL_POLICY, labelValue, STORE_UNAVAILABLE_REASON } from '../render/labels.ts';
import { sidecarConfigMapName } from '../render/sidecar-container.ts';
import { UnsafeValueError } from '../render/sidecar-nginx.ts';
import type { IngressLike, OperatorSettings, PolicyRef, ServiceLike } from '../render/types.ts';
import { dateOf } from '../util/clock.ts';
import { selectBaselines } from './baseline.ts';
import { ownedCache, splitKey, type Actions, type Caches, type OwnedResource, type Store } from './deps.ts';
import { indexed, nameKey, targetKey } from './indexes.ts';
import { describeDrift, RepairBudget, type DriftItem } from './drift.ts';
import { foreignConditions, foreignObjects, overrideConditions, type ForeignObject, type OwnershipLookup } from './ownership.ts';
import { PendingWrites } from './pending.ts';
import { planWrites, type Plan } from './plan.ts';
import type { ReconcileContext, ReconcileOutcome, Reconciler } from './runtime.ts';
import { sidecarConfigDigest } from './slim.ts';
import { canonical, ownedAnnotationKeys } from './state.ts';

export const FINALIZER = 'apisec.dev/cleanup';

type Policy = ApiSecurityPolicy & KubeObject;

/** What a reconcile decided to write, and whether that repairs drift of what had converged. */
interface Decided {
  assessment: Assessment;
  plan: Plan;
  repairing: boolean;
}

export interface PolicyReconcilerDeps {
  caches: Caches;
  actions: Actions;
  settings: OperatorSettings;
  /** Shared with the baseline reconciler: both write Ingress annotations. */
  pending?: PendingWrites;
  /** Periodic re-check of a converged policy. */
  resyncMs?: number;
  /** How many drift repairs a policy may make in a window before it is called a fight. */
  repairBudget?: RepairBudget;
  onDrift?: (kinds: string[], fight: boolean) => void;
  /** Whether traefik.io Middlewares are served (and cached); without them Traefik Ingresses are left alone. */
  middlewaresServed?: () => boolean;
  /** Whether Envoy Gateway's policy CRDs (gateway.envoyproxy.io) are served. */
  envoyGatewayServed?: () => boolean;
  /** With sidecar injection (and caches.pods): the operator's namespace, which is never injected. */
  injection?: { operatorNamespace: string } | undefined;
}

const OWNED: readonly OwnedResource[] = [Resources.networkPolicy, Resources.configMap, Resources.middleware, Resources.securityPolicy, Resources.backendTrafficPolicy];

export class PolicyReconciler implements Reconciler {
  /** Errors the status already shows, or of the status write itself: reportFailure leaves them. */
  private readonly shown = new WeakSet<object>();
  private readonly deps: Required<Omit<PolicyReconcilerDeps, 'injection'>> & Pick<PolicyReconcilerDeps, 'injection'>;

  constructor(deps: PolicyReconcilerDeps) {
    this.deps = { pending: new PendingWrites(), resyncMs: 10 * 60_000, repairBudget: new RepairBudget(), onDrift: () => undefined, middlewaresServed: () => true, envoyGatewayServed: () => true, ...deps };
  }

  logFields(key: string): Record<string, unknown> {
    const { namespace, name } = splitKey(key);
    return { namespace, name, generation: this.deps.caches.policies.get(key)?.metadata.generation };
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    const { namespace, name } = splitKey(key);
    const policy = this.deps.caches.policies.get(key);
    if (!policy) {
      // Gone without our finalizer running (e.g. removed by force): clean up what carries its name.
      this.deps.repairBudget.forget(key);
      await this.cleanup(namespace, { name }, ctx);
      return undefined;
    }
    if (policy.metadata.deletionTimestamp) {
      if (policy.metadata.finalizers?.includes(FINALIZER)) {
        await this.cleanup(namespace, { name, uid: policy.metadata.uid }, ctx);
        await this.deps.actions.applyFinalizers(Resources.policy, { namespace, name, uid: policy.metadata.uid }, []);
        ctx.writes.add();
        ctx.log.info('Released finalizer after cleanup');
      }
      return undefined;
    }
    try {
      if (!policy.metadata.finalizers?.includes(FINALIZER)) {
        await this.deps.actions.applyFinalizers(Resources.policy, { namespace, name, uid: policy.metadata.uid }, [FINALIZER]);
        ctx.writes.add();
      }
      return await this.enforce(policy, ctx);
    } catch (err) {
      await this.reportFailure(policy, err, ctx);
      throw err;
    }
  }

  /**
   * A reconcile that failed before its status said so (the finalizer write refused, a read it needs
   * failed): Enforced, Programmed and Compliant Unknown, reason naming the error. Written only when it changes, so
   * the runtime's backoff retries add no status writes; a failure of that write too is only logged.
   */
  private async reportFailure(policy: Policy, err: unknown, ctx: ReconcileContext): Promise<void> {
    if (err instanceof TerminalError || (typeof err === 'object' && err !== null && this.shown.has(err))) return;
    const message = err instanceof Error ? err.message : String(err);
    const status = failedStatus(policy.status, { generation: policy.metadata.generation ?? 0, reason: failureReason(err), message, now: dateOf(ctx.clock) });
    await this.writeStatus(policy, status, ctx).catch((e: unknown) => ctx.log.warn({ err: (e as Error).message }, 'Could not report the failure in status'));
  }

  /** Validate, apply baselines, assess, plan, apply, status. */
  private async enforce(policy: Policy, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    const { namespace, name } = policy.metadata;
    const parsed = parseSpec(policy.spec);
    if (!parsed.ok) return this.refuse(policy, 'InvalidSpec', parsed.message, ctx);
    const selecting = selectBaselines(this.deps.caches, namespace);
    const baseline = applyBaselines(parsed.spec, name, selecting);
    const spec = baseline.effective;
    // The Secret watch re-queues the policy when the label comes or goes: refusing is terminal until then.
    const store = (use: SecretUse): Caches['clientCAs'] => (use === CLIENT_CA_USE ? this.deps.caches.clientCAs : this.deps.caches.apiKeySecrets);
    const refused = secretRefusal(namespace, spec, (use, secret) => (store(use).get(`${namespace}/${secret}`) ? 'labelled' : 'unlabelled'));
    if (refused) return this.refuse(policy, refused.reason, refused.message, ctx);
    let decided: Decided;
    try {
      decided = this.decide(policy, spec, { allowedProviders: baseline.providers, authHosts: baseline.authHosts });
    } catch (err) {
      // Defence in depth: the schema should have refused it (UnsafeValue), or a URL the operator does not allow.
      if (err instanceof UnsafeValueError) return this.refuse(policy, err.reason, err.message, ctx);
      throw err;
    }
    const { assessment, plan, repairing } = decided;
    const foreign = await this.refuseForeignNames(plan, policy, ctx);
    const key = `${namespace}/${name}`;
    const drift = repairing ? plan.drift : [];
    const fight = drift.length > 0 && !this.deps.repairBudget.allows(key);
    const errors = await this.applyPlan(policy, plan, { drift, fight }, ctx);
    const messages = [...errors.map((e) => (e instanceof Error ? e.message : String(e))), ...plan.blocked];
    const now = dateOf(ctx.clock);
    const generation = policy.metadata.generation ?? 0;
    const sidecarPods = this.sidecarPods(policy, spec, assessment);
    const failure = errors.length ? failureReason(errors[0]) : undefined;
    const status = policyStatus({ generation, previous: policy.status, spec, assessment, errors: messages, failure, baseline: { ...baseline, names: selecting.map((b) => b.name) }, now, sidecarPods });
    const suspicious = this.withFindings(policy, status, { drift: drift.length ? describeDrift(drift) : '', fight, foreign }, now);
    const digest = recordedDigest(plan.digest, policy.status?.appliedDigest, messages.length > 0);
    if (digest) status.appliedDigest = digest;
    await this.writeStatus(policy, status, ctx);
    const transient = errors.find(isTransient);
    if (transient) {
      this.shown.add(transient as object);
      throw transient;
    }
    if (fight) return { requeueAfterMs: this.deps.repairBudget.windowMs };
    // Our own write is not in the cache yet: look again shortly rather than mistake it for drift.
    if (plan.waiting) return { requeueAfterMs: 1000 };
    const resync = messages.length ? Math.min(this.deps.resyncMs, 5 * 60_000) : this.deps.resyncMs;
    const next = Math.min(resync, suspicious.recheckInMs ?? resync);
    // The plain periodic re-check is a resync (spread, behind real changes); an earlier one is not.
    return next === this.deps.resyncMs ? { requeueAfterMs: next, resync: true } : { requeueAfterMs: next };
  }

  /**
   * Adds what this reconcile found besides the assessment: drift (or a fight), generated names taken by
   * someone else, and the guard's SuspiciousActivity reports. Returns when to look again for the latter.
   */
  private withFindings(policy: Policy, status: NonNullable<Policy['status']>, found: { drift: string; fight: boolean; foreign: ForeignObject[] }, now: Date): { recheckInMs?: number } {
    const previous = policy.status?.conditions;
    const generation = policy.metadata.generation ?? 0;
    status.conditions = [...(status.conditions ?? []), driftCondition(previous, generation, { description: found.drift, fight: found.fight }, now)];
    if (found.fight) status.conditions = mergeConditions(previous, overrideConditions(status.conditions, fightConditions(found.drift)), generation, now);
    if (found.foreign.length) status.conditions = mergeConditions(previous, overrideConditions(status.conditions, foreignConditions(found.foreign)), generation, now);
    const reports = this.guardReports(policy);
    const suspicious = suspiciousCondition(reports.filter((e) => e.reason !== STORE_UNAVAILABLE_REASON), previous, now);
    const store = storeCondition(reports.filter((e) => e.reason === STORE_UNAVAILABLE_REASON), previous, now);
    const reported = [suspicious.condition, store.condition].filter((c) => c !== undefined);
    if (reported.length) status.conditions = [...status.conditions, ...mergeConditions(previous, reported, generation, now)];
    const recheck = Math.min(suspicious.recheckInMs ?? Infinity, store.recheckInMs ?? Infinity);
    return Number.isFinite(recheck) ? { recheckInMs: recheck } : {};
  }

  /** With sidecar injection: which opted-in pods behind the Services lack this policy's sidecar. */
  private sidecarPods(policy: Policy, spec: ApiSecurityPolicySpec, assessment: Assessment): SidecarCoverage | undefined {
    const { pods, namespaces, configMaps } = this.deps.caches;
    const { injection } = this.deps;
    if (!pods || !injection || !spec.sidecar?.enabled) return undefined;
    const { namespace, name, uid } = policy.metadata;
    const labels = namespaces.get(namespace)?.metadata.labels;
    const configDigest = sidecarConfigDigest(configMaps.get(`${namespace}/${sidecarConfigMapName({ name })}`), uid);
    return sidecarCoverage({ policy: name, namespace, namespaceLabels: labels, operatorNamespace: injection.operatorNamespace, services: assessment.services, pods: pods.list(namespace) as PodMeta[], configDigest });
  }

  /** Terminal: nothing on the targets changes; the status says why; retried when the policy changes. */
  private async refuse(policy: Policy, reason: string, message: string, ctx: ReconcileContext): Promise<never> {
    await this.writeStatus(policy, refusedStatus(policy.status, { generation: policy.metadata.generation ?? 0, reason, message, now: dateOf(ctx.clock) }), ctx);
    throw new TerminalError(reason, message);
  }

  /**
   * Assess and plan. Converged before and different now means someone else changed what the operator
   * had applied: the plan repairs it, taking its own keys back by force. Otherwise an Ingress on which
   * another field manager owns a key the policy would write (with another value) is held: assessed as
   * Conflicted, named in status, and left exactly as it is, so an admin's annotation is never taken
   * over (nor deleted when the policy later drops that control).
   */
  private decide(policy: Policy, spec: AssessInput['spec'], limits: Pick<AssessInput, 'allowedProviders' | 'authHosts'>): Decided {
    const generation = policy.metadata.generation;
    const assessment = this.assess(policy, spec, limits);
    const plan = this.plan(policy, spec.mode, { assessment });
    if (converged(policy.status, plan.digest, generation)) return { assessment, plan, repairing: true };
    const held = new Map(plan.ingress.filter((i) => i.conflicts.length).map((i) => [i.name, describeAnnotationConflicts(i.name, i.conflicts)]));
    if (held.size === 0) return { assessment, plan, repairing: false };
    const reassessed = this.assess(policy, spec, { ...limits, held });
    const replanned = this.plan(policy, spec.mode, { assessment: reassessed, held: new Set(held.keys()) });
    return { assessment: reassessed, plan: replanned, repairing: converged(policy.status, replanned.digest, generation) };
  }

  private assess(policy: Policy, spec: AssessInput['spec'], limits: Pick<AssessInput, 'allowedProviders' | 'authHosts' | 'held'>): Assessment {
    const { caches } = this.deps;
    const { namespace, name } = policy.metadata;
    const ref: PolicyRef = { name, namespace, uid: policy.metadata.uid ?? '' };
    return assessPolicy({
      policy: { ...ref, ...(policy.metadata.creationTimestamp ? { creationTimestamp: policy.metadata.creationTimestamp } : {}) },
      spec,
      rivals: this.rivals(namespace, spec.targetRefs),
      lookup: {
        ingress: (n) => caches.ingresses.get(`${namespace}/${n}`) as (KubeObject & IngressLike) | undefined,
        service: (n) => caches.services.get(`${namespace}/${n}`) as (KubeObject & ServiceLike) | undefined,
        route: (n) => caches.httpRoutes.get(`${namespace}/${n}`) as (KubeObject & RouteLike) | undefined,
        gateway: (ns, n) => caches.gateways.get(`${ns}/${n}`) as (KubeObject & GatewayLike) | undefined,
        gatewayClass: (n) => caches.gatewayClasses.get(n) as (KubeObject & GatewayClassLike) | undefined,
      },
      settings: this.deps.settings,
      refusals: this.refusals(ref),
      namedPortServed: this.namedPortServed(namespace, name),
      ...limits,
    });
  }

  /** With sidecar injection: the pods' annotations say where the webhook moved a Service's named port to the sidecar. */
  private namedPortServed(namespace: string, policy: string): AssessInput['namedPortServed'] {
    const { pods } = this.deps.caches;
    if (!pods || !this.deps.injection) return undefined;
    return (service, name) => sidecarServesName({ policy, service, name, pods: pods.list(namespace) as PodMeta[] });
  }

  /** What Envoy Gateway said of this policy's objects (status.ancestors): the Gateways that refused them. */
  private refusals(policy: PolicyRef): DataPlaneRefusal[] {
    if (!this.deps.envoyGatewayServed()) return [];
    return dataPlaneRefusals([Resources.securityPolicy, Resources.backendTrafficPolicy].flatMap((r) => this.owned(r, policy.namespace, policy)));
  }

  /** The claims of the policies that target any of these objects (the only ones that can contend for them). */
  private rivals(namespace: string, refs: readonly { kind: string; name: string }[]): PolicyClaim[] {
    const seen = new Map<string, Policy>();
    for (const ref of refs) for (const p of indexed(this.deps.caches.policies, 'target', targetKey(namespace, ref.kind, ref.name))) seen.set(p.metadata.name, p);
    return [...seen.values()].map(claimOf).filter((c): c is PolicyClaim => c !== undefined);
  }

  /** The Ingresses or HTTPRoutes a plan looks at: those the policy won, and those carrying its marker (to release). */
  private wonOrMarked(store: Store<KubeObject>, namespace: string, policy: string, won: Iterable<string>): KubeObject[] {
    const found = new Map<string, KubeObject>();
    for (const name of won) {
      const cached = store.get(`${namespace}/${name}`);
      if (cached) found.set(name, cached);
    }
    for (const o of indexed(store, 'marker', nameKey(namespace, policy))) found.set(o.metadata.name, o);
    return [...found.values()];
  }

  private plan(policy: Policy, mode: 'Enforce' | 'Audit', { assessment, held }: { assessment: Assessment; held?: ReadonlySet<string> }): Plan {
    const { namespace, name } = policy.metadata;
    const { rendered } = assessment;
    const traefikServed = this.deps.middlewaresServed();
    const gatewayServed = this.deps.envoyGatewayServed();
    const served = (r: OwnedResource): boolean => (r === Resources.middleware ? traefikServed : r.group === Resources.securityPolicy.group ? gatewayServed : true);
    const existing = new Map<OwnedResource, KubeObject[]>();
    for (const r of OWNED) if (served(r)) existing.set(r, this.owned(r, namespace, { name, uid: policy.metadata.uid }));
    const won = new Set(assessment.ingresses.map((i) => i.metadata.name));
    const wonRoutes = new Set(assessment.targets.filter((t) => t.ref.kind === 'HTTPRoute' && t.object && t.state !== 'Conflicted').map((t) => t.ref.name));
    return planWrites({
      policy: name,
      namespace,
      mode,
      rendered,
      won,
      ingresses: this.wonOrMarked(this.deps.caches.ingresses, namespace, name, won),
      routes: this.wonOrMarked(this.deps.caches.httpRoutes, namespace, name, wonRoutes),
      wonRoutes,
      desiredOwned: mode === 'Enforce' ? (generatedObjects(rendered) as KubeObject[]) : [],
      existing,
      traefikServed,
      behind: (k, cached) => this.deps.pending.behind(k, cached),
      ...(held ? { held } : {}),
    });
  }

  /**
   * A generated name taken by an object this policy does not own empties the plan: a forced apply would
   * take the object over (and garbage collection delete it with the policy), and a partial write could
   * leave an Ingress naming a Middleware someone else controls. The block keeps the digest unsettled.
   */
  private async refuseForeignNames(plan: Plan, policy: Policy, ctx: ReconcileContext): Promise<ForeignObject[]> {
    const foreign = await foreignObjects(plan.apply.map((a) => a.obj), policy.metadata.uid ?? '', this.ownershipLookup(policy.metadata.namespace));
    if (foreign.length === 0) return foreign;
    ctx.log.warn({ foreign: foreign.map((f) => `${f.kind}/${f.name}`) }, 'Refused to take over objects this policy does not own');
    Object.assign(plan, { apply: [], ingress: [], route: [], remove: [], drift: [], waiting: false });
    plan.blocked.push(foreignConditions(foreign)[1]?.message ?? 'generated names are taken');
    return foreign;
  }

  private ownershipLookup(namespace: string): OwnershipLookup {
    const resource = (kind: string): OwnedResource | undefined => OWNED.find((r) => r.kind === kind);
    const { actions, caches } = this.deps;
    const get = actions.get?.bind(actions);
    return {
      cached: (kind, name) => {
        const r = resource(kind);
        return r ? ownedCache(caches, r).get(`${namespace}/${name}`) : undefined;
      },
      ...(get
        ? {
            get: async (kind: string, name: string) => {
              const r = resource(kind);
              return r ? get(r, namespace, name) : undefined;
            },
          }
        : {}),
    };
  }

  /** Executes the plan, unless it would repair drift in a fight; reports drift either way. Returns the failures. */
  private async applyPlan(policy: Policy, plan: Plan, { drift, fight }: { drift: DriftItem[]; fight: boolean }, ctx: ReconcileContext): Promise<unknown[]> {
    const kinds = drift.map((d) => d.object.split('/')[0] ?? '');
    if (fight) {
      this.deps.onDrift(kinds, true);
      // One log line and one Event per pause: the other writer's pace must not set the operator's.
      if (!this.deps.repairBudget.firstPause(`${policy.metadata.namespace}/${policy.metadata.name}`)) return [];
      ctx.log.warn({ drift: describeDrift(drift) }, 'Paused repairs: another writer keeps changing operator-owned fields');
      await this.event(policy, 'FightDetected', `Repairs paused: another writer keeps changing ${describeDrift(drift)}`, ctx);
      return [];
    }
    // Force only to take back what had converged (the operator's own keys), never on a first write.
    const errors = await this.execute(plan, { namespace: policy.metadata.namespace, force: drift.length > 0 }, ctx);
    if (!drift.length) return errors;
    this.deps.repairBudget.record(`${policy.metadata.namespace}/${policy.metadata.name}`);
    this.deps.onDrift(kinds, false);
    ctx.log.warn({ drift: describeDrift(drift) }, 'Repaired drift');
    await this.event(policy, 'DriftRepaired', `Repaired: ${describeDrift(drift)}`, ctx);
    return errors;
  }

  /**
   * Owned objects first (a Traefik router naming a missing Middleware is disabled), annotations next,
   * deletions last (after the annotations stopped naming them). A failed write does not stop the others.
   */
  private async execute(plan: Plan, { namespace: ns, force }: { namespace: string; force: boolean }, ctx: ReconcileContext): Promise<unknown[]> {
    const errors: unknown[] = [];
    const attempt = async (what: Record<string, string>, write: () => Promise<void>): Promise<void> => {
      try {
        await write();
        ctx.writes.add();
      } catch (err) {
        errors.push(err);
        ctx.log.warn({ ...what, err: (err as Error).message }, 'Write failed');
      }
    };
    const { actions, pending, caches } = this.deps;
    for (const { r, obj, existed } of plan.apply) {
      await attempt({ [r.kind]: obj.metadata.name }, async () => {
        const before = ownedCache(caches, r).get(`${ns}/${obj.metadata.name}`)?.metadata.resourceVersion;
        const after = await actions.applyOwned(r, obj);
        pending.wrote(`${r.kind}/${ns}/${obj.metadata.name}`, before, (after as KubeObject | undefined)?.metadata?.resourceVersion);
        ctx.log.info({ [r.kind]: obj.metadata.name }, `${existed ? 'Updated' : 'Created'} ${r.kind}`);
      });
    }
    for (const { name, want } of plan.ingress) {
      await attempt({ ingress: name }, async () => {
        const before = caches.ingresses.get(`${ns}/${name}`)?.metadata.resourceVersion;
        const after = await actions.applyAnnotations(Resources.ingress, { namespace: ns, name }, want, { force });
        pending.wrote(`Ingress/${ns}/${name}`, before, (after as KubeObject | undefined)?.metadata?.resourceVersion);
        ctx.log.info({ ingress: name, keys: Object.keys(want).length }, Object.keys(want).length ? 'Applied Ingress annotations' : 'Released Ingress annotations');
      });
    }
    for (const { name, want } of plan.route) {
      await attempt({ httproute: name }, async () => {
        const before = caches.httpRoutes.get(`${ns}/${name}`)?.metadata.resourceVersion;
        const after = await actions.applyAnnotations(Resources.httpRoute, { namespace: ns, name }, want, { force: false });
        pending.wrote(`HTTPRoute/${ns}/${name}`, before, (after as KubeObject | undefined)?.metadata?.resourceVersion);
        ctx.log.info({ httproute: name }, Object.keys(want).length ? 'Marked HTTPRoute' : 'Released HTTPRoute marker');
      });
    }
    for (const { r, obj } of plan.remove) {
      await attempt({ [r.kind]: obj.metadata.name }, async () => {
        await actions.delete(r, ns, obj.metadata.name, obj.metadata.uid);
        pending.wrote(`${r.kind}/${ns}/${obj.metadata.name}`, obj.metadata.resourceVersion, undefined);
        ctx.log.info({ [r.kind]: obj.metadata.name }, `Deleted ${r.kind}`);
      });
    }
    return errors;
  }

  private async event(policy: Policy, reason: string, note: string, ctx: ReconcileContext): Promise<void> {
    const regarding = { apiVersion: policy.apiVersion, kind: policy.kind, name: policy.metadata.name, namespace: policy.metadata.namespace, uid: policy.metadata.uid ?? '' };
    const err = await this.deps.actions.recordEvent(regarding, { type: 'Warning', reason, note, action: 'Repair' });
    if (err) ctx.log.warn({ err: err.message }, 'Failed to record Event');
  }

  /** The guard's reports about this policy (Events it labelled: SuspiciousActivity, RateLimitStoreUnavailable). */
  private guardReports(policy: Policy): (SuspiciousEvent & { reason: string })[] {
    return this.deps.caches.suspiciousEvents
      .list(policy.metadata.namespace)
      .filter((e) => (e.regarding as { name?: string } | undefined)?.name === policy.metadata.name)
      .map((e) => ({ at: String(e.eventTime ?? ''), note: String(e.note ?? ''), reason: String(e.reason ?? '') }))
      .filter((e) => !Number.isNaN(Date.parse(e.at)));
  }

  /**
   * The generated objects of a policy: its label and an ownerReference to it (by UID while the policy
   * exists; by name once it is gone), never the label alone, which anyone may set on their own objects.
   */
  private owned(r: OwnedResource, namespace: string, policy: { name: string; uid?: string | undefined }): KubeObject[] {
    const ownsIt = (o: KubeObject): boolean =>
      (o.metadata.ownerReferences ?? []).some((ref) => ref.kind === 'ApiSecurityPolicy' && ref.name === policy.name && (policy.uid === undefined || ref.uid === policy.uid));
    return indexed(ownedCache(this.deps.caches, r), 'owner', nameKey(namespace, policy.name)).filter((o) => o.metadata.labels?.[LABEL_POLICY] === labelValue(policy.name) && ownsIt(o) && !o.metadata.deletionTimestamp);
  }

  /** Removes everything this policy wrote: its annotations on Ingresses and HTTPRoutes, and its generated objects. */
  private async cleanup(namespace: string, policy: { name: string; uid?: string | undefined }, ctx: ReconcileContext): Promise<void> {
    const { name } = policy;
    const { caches } = this.deps;
    const marked = [
      { r: Resources.ingress, store: caches.ingresses, field: 'ingress', msg: 'Released Ingress annotations' },
      { r: Resources.httpRoute, store: caches.httpRoutes, field: 'httproute', msg: 'Released HTTPRoute marker' },
    ] as const;
    for (const { r, store, field, msg } of marked) {
      for (const o of indexed(store, 'marker', nameKey(namespace, name))) {
        if (o.metadata.annotations?.[ANNOTATION_POLICY] !== name || ownedAnnotationKeys(o, FIELD_MANAGER).length === 0) continue;
        await this.deps.actions.applyAnnotations(r, { namespace, name: o.metadata.name }, {}, { force: false });
        ctx.writes.add();
        ctx.log.info({ [field]: o.metadata.name }, msg);
      }
    }
    for (const r of OWNED) {
      for (const o of this.owned(r, namespace, policy)) {
        await this.deps.actions.delete(r, namespace, o.metadata.name, o.metadata.uid);
        ctx.writes.add();
        ctx.log.info({ [r.kind]: o.metadata.name }, `Deleted ${r.kind}`);
      }
    }
  }

  /**
   * Writes the status when it differs from the cached one — unless it is the very status this reconciler
   * last wrote and the cache has not seen that write yet (an echo reconcile, e.g. of its own Ingress
   * write, that would send the same status twice). Remembered by content in PendingWrites (60 s at most).
   */
  private async writeStatus(policy: Policy, status: NonNullable<Policy['status']>, ctx: ReconcileContext): Promise<void> {
    const wanted = canonical(status);
    if (canonical(policy.status ?? {}) === wanted) return;
    const { namespace, name } = policy.metadata;
    const key = `ApiSecurityPolicy/status/${namespace}/${name}/${createHash('sha256').update(wanted).digest('hex')}`;
    if (this.deps.pending.behind(key, policy)) return;
    const after = await this.deps.actions.applyStatus(Resources.policy, namespace, name, status).catch((err: unknown) => {
      if (typeof err === 'object' && err !== null) this.shown.add(err);
      throw err;
    });
    this.deps.pending.wrote(key, policy.metadata.resourceVersion, (after as KubeObject | undefined)?.metadata?.resourceVersion);
    ctx.writes.add();
  }
}
