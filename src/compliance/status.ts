// Pure status building for one reconcile: the ApiSecurityPolicy status from its assessment and what the
// apply did, the drift condition, the convergence (digest) decisions, and a baseline's status. Nothing
// here reads a cache or writes; the reconcilers in src/controller call it, and table tests cover it.
// Deterministic: no timestamp but a condition's lastTransitionTime, which moves only on a flip.
import type { ApiSecurityPolicySpec, ApiSecurityPolicyStatus, Condition } from '../api/v1alpha1.ts';
import type { ClusterApiSecurityPolicyStatus } from '../api/cluster-v1alpha1.ts';
import type { RenderOutput } from '../render/index.ts';
import { SIDECAR_RELOAD_SECONDS } from '../render/sidecar-container.ts';
import { inert } from '../render/text.ts';
import type { Assessment, TargetOutcome } from './assess.ts';
import type { BaselineResult } from './baseline.ts';
import { compliantCondition, mergeConditions, type ConditionInput } from './conditions.ts';

/** What the status of a policy is computed from (besides its spec and assessment). */
export interface PolicyStatusInput {
  generation: number;
  previous: ApiSecurityPolicyStatus | undefined;
  spec: ApiSecurityPolicySpec;
  assessment: Assessment;
  /** Messages of the writes that failed or could not be made, in order. */
  errors: readonly string[];
  baseline: BaselineResult & { names: readonly string[] };
  now: Date;
  /** With sidecar injection: the opted-in pods behind the Services, and those without this policy's sidecar. */
  sidecarPods?: { expected: number; missing: readonly string[]; stale?: readonly string[]; reloading?: readonly string[] } | undefined;
}

/** Drift seen by this reconcile, already described (names, fields, managers). */
export interface DriftSeen {
  /** Empty: no drift. */
  description: string;
  /** Repairs paused: another writer keeps changing what the operator owns. */
  fight: boolean;
}

/** At most `max` items, then "and N more". */
export const listSome = (items: readonly string[], max = 5): string => `${items.slice(0, max).join('; ')}${items.length > max ? `; and ${items.length - max} more` : ''}`;

/** The status of a valid policy: conditions, score, controls, targets, generated objects, provenance. */
export function policyStatus(input: PolicyStatusInput): ApiSecurityPolicyStatus {
  const { spec, assessment, baseline, generation } = input;
  const { targets, rendered, compliance } = assessment;
  const by = (state: TargetOutcome['state']): TargetOutcome[] => targets.filter((t) => t.state === state);
  const live = targets.filter((t) => t.state === 'Enforced' || t.state === 'Audit');
  const conflicted = by('Conflicted');
  const loosened = baseline.violations.map((v) => `${v.field} (${v.baseline}: ${v.message})`);
  const missing = by('NotFound');
  const conds: ConditionInput[] = [
    acceptedCondition(targets, conflicted, missing),
    enforcedCondition({ spec, live, missing, unsupported: [...by('Unsupported'), ...by('NotProgrammed')], conflicted, errors: input.errors, rendered }),
    programmedCondition(spec, targets, input.errors),
    compliantCondition(spec.mode, compliance, live.length > 0, loosened),
  ];
  if (conflicted.length) {
    const reason = conflicted.some((t) => t.ownedElsewhere) ? 'AnnotationOwned' : 'Conflicted';
    conds.push({ type: 'Conflicted', status: 'True', reason, message: conflicted.map((t) => t.message).join('; ') });
  }
  if (baseline.names.length) {
    conds.push(
      loosened.length
        ? { type: 'WithinBaseline', status: 'False', reason: 'LoosensBaseline', message: `Floors enforced instead: ${listSome(loosened)}` }
        : { type: 'WithinBaseline', status: 'True', reason: 'WithinBaseline', message: `Within ${baseline.names.join(', ')}` },
    );
  }
  if (baseline.conflicts.length) conds.push({ type: 'BaselinesConflict', status: 'True', reason: 'ConflictingBaselines', message: baseline.conflicts.join('; ') });
  if (input.sidecarPods && spec.sidecar?.enabled && spec.mode === 'Enforce') conds.push(sidecarCondition(input.sidecarPods), sidecarConfigCondition(input.sidecarPods.stale ?? [], input.sidecarPods.reloading ?? []));

  const status: ApiSecurityPolicyStatus = {
    observedGeneration: generation,
    conditions: mergeConditions(input.previous?.conditions, conds, generation, input.now),
    score: compliance.score,
    ...(compliance.auditScore !== undefined ? { auditScore: compliance.auditScore } : {}),
    violations: compliance.violations + baseline.violations.length,
    controls: compliance.controls,
    targets: targets.map((t) => ({
      kind: t.ref.kind,
      name: t.ref.name,
      ...(t.ref.sectionName ? { sectionName: t.ref.sectionName } : {}),
      state: t.state,
      ...(t.provider ? { provider: t.provider } : {}),
      ...(t.message ? { message: inert(t.message, 1024) } : {}),
    })),
  };
  const generated = generatedObjects(rendered).map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name }));
  if (spec.mode === 'Enforce' && generated.length) status.generated = generated;
  if (baseline.provenance.length) status.effective = baseline.provenance;
  return status;
}

/**
 * SidecarInjected: whether every pod that asked for the sidecar (apisec.dev/inject) behind the Services
 * carries this policy's. False names the pods that do not: admitted while the webhook did not answer
 * (failurePolicy Ignore), refused by it (their creation warned why), or created before the label.
 */
export function sidecarCondition({ expected, missing }: { expected: number; missing: readonly string[] }): ConditionInput {
  if (missing.length === 0) return { type: 'SidecarInjected', status: 'True', reason: 'AllPodsInjected', message: `${expected} opted-in pod(s) behind the Services carry the sidecar` };
  return {
    type: 'SidecarInjected',
    status: 'False',
    reason: 'PodsWithoutSidecar',
    message: `${missing.length} of ${expected} opted-in pod(s) behind the Services run without the sidecar, so their traffic is not limited by it: ${listSome(missing)}. Recreate them (kubectl rollout restart) once the webhook answers; a refused pod's creation warned why`,
  };
}

/**
 * SidecarConfigCurrent: whether the injected pods' nginx runs the nginx.conf the ConfigMap holds now (the
 * digest the webhook stamped on each pod at admission). A current sidecar reloads a changed ConfigMap in
 * place (src/render/sidecar-container.ts); the kubelet's refresh of the mount and the reload are not seen
 * from here, so such pods are named as reloading, not claimed current. A sidecar injected before reloads
 * existed reads nginx.conf only at start: its pods need a rollout, which this names.
 */
export function sidecarConfigCondition(stale: readonly string[], reloading: readonly string[] = []): ConditionInput {
  if (stale.length) {
    return {
      type: 'SidecarConfigCurrent',
      status: 'False',
      reason: 'RolloutNeeded',
      message: `${stale.length} injected pod(s) run a sidecar that reads nginx.conf only at start, with an older one than the ConfigMap holds: ${listSome(stale)}. Roll their workloads (kubectl rollout restart deployment/<name>)`,
    };
  }
  if (reloading.length) {
    return {
      type: 'SidecarConfigCurrent',
      status: 'True',
      reason: 'ReloadsInPlace',
      message: `${reloading.length} injected pod(s) started with an older nginx.conf and reload the ConfigMap's in place, without a restart (the kubelet refreshes the mount within about a minute; the sidecar checks it every ${SIDECAR_RELOAD_SECONDS} s; not observed per pod): ${listSome(reloading)}`,
    };
  }
  return { type: 'SidecarConfigCurrent', status: 'True', reason: 'ConfigCurrent', message: 'The injected pods started with the sidecar configuration the ConfigMap holds now' };
}

/** Every owned object the renderers produced, in apply order. */
export const generatedObjects = (rendered: RenderOutput): { apiVersion: string; kind: string; metadata: { name: string } }[] => [
  ...rendered.networkPolicies,
  ...rendered.configMaps,
  ...rendered.middlewares,
  ...rendered.envoyGateway,
];

/**
 * Accepted, with the reasons of Gateway API's policy attachment (GEP-713): False only when no target can
 * take the policy (every one governed by an older policy, or none exists); refused specs are `Invalid`
 * (refusedStatus).
 */
function acceptedCondition(targets: readonly TargetOutcome[], conflicted: readonly TargetOutcome[], missing: readonly TargetOutcome[]): ConditionInput {
  const no = (reason: string, of: readonly TargetOutcome[]): ConditionInput => ({ type: 'Accepted', status: 'False', reason, message: of.map((t) => t.message).join('; ') });
  if (targets.length && conflicted.length === targets.length && !conflicted.some((t) => t.ownedElsewhere)) return no('Conflicted', conflicted);
  if (targets.length && missing.length === targets.length) return no('TargetNotFound', missing);
  return { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'The policy is valid' };
}

const targetName = (t: TargetOutcome): string => `${t.ref.kind} ${t.ref.name}${t.ref.sectionName ? `#${t.ref.sectionName}` : ''}`;

/**
 * Programmed (GEP-713), per target: True/Programmed when what the operator wrote is in the request path
 * of every target, True/PartiallyProgrammed when of some (naming the others), False when of none, with
 * the first cause as reason (FilterMissing for a Traefik route that does not chain the Middlewares).
 */
export function programmedCondition(spec: ApiSecurityPolicySpec, targets: readonly TargetOutcome[], errors: readonly string[]): ConditionInput {
  const no = (reason: string, message: string): ConditionInput => ({ type: 'Programmed', status: 'False', reason, message });
  if (spec.mode === 'Audit') return no('AuditMode', 'Audit mode: nothing is written');
  if (errors.length) return no('ApplyFailed', errors.map((e) => e.slice(0, 300)).join('; '));
  const done = targets.filter((t) => t.state === 'Enforced');
  const rest = targets.filter((t) => t.state !== 'Enforced');
  const why = (t: TargetOutcome): string => `${targetName(t)}: ${t.message ?? t.state}`;
  if (!done.length) {
    const first = rest[0];
    const reason = first?.reason ?? (first?.state === 'NotFound' ? 'TargetNotFound' : (first?.state ?? 'NoTarget'));
    return no(reason, rest.map(why).join('; ') || 'No target');
  }
  if (!rest.length) return { type: 'Programmed', status: 'True', reason: 'Programmed', message: `Programmed on ${done.map(targetName).join(', ')}` };
  return { type: 'Programmed', status: 'True', reason: 'PartiallyProgrammed', message: `Programmed on ${done.map(targetName).join(', ')}; not on ${rest.map(why).join('; ')}` };
}

interface EnforcedInput {
  spec: ApiSecurityPolicySpec;
  live: readonly TargetOutcome[];
  missing: readonly TargetOutcome[];
  unsupported: readonly TargetOutcome[];
  conflicted: readonly TargetOutcome[];
  errors: readonly string[];
  rendered: RenderOutput;
}

/** Enforced: True only when every write succeeded in Enforce mode and every target is live. */
export function enforcedCondition(i: EnforcedInput): ConditionInput {
  const no = (reason: string, message: string): ConditionInput => ({ type: 'Enforced', status: 'False', reason, message });
  if (i.errors.length) return no('ApplyFailed', i.errors.map((e) => e.slice(0, 300)).join('; '));
  if (i.spec.mode === 'Audit') return no('AuditMode', 'Audit mode: controls are evaluated and reported, nothing is written');
  if (i.missing.length) return no('TargetNotFound', i.missing.map((t) => t.message).join('; '));
  if (i.unsupported.length) {
    const reason = i.unsupported.find((t) => t.reason)?.reason ?? [...i.rendered.ingresses, ...i.rendered.routes].find((r) => r.problem)?.problem?.reason ?? 'Unsupported';
    return no(reason, i.unsupported.map((t) => t.message).join('; '));
  }
  const held = i.conflicted.filter((t) => t.ownedElsewhere);
  // The policy wants this Ingress and nothing protects it: not enforced, even when other targets are.
  if (held.length) return no('Conflicted', `Not written: ${held.map((t) => t.message).join('; ')}`);
  if (i.live.length === 0 && i.conflicted.length) return no('Conflicted', 'Every target is governed by another policy');
  const ingresses = i.live.filter((t) => t.ref.kind === 'Ingress').length;
  const routes = i.live.filter((t) => t.ref.kind === 'HTTPRoute').length;
  const gateway = routes ? `, ${i.rendered.envoyGateway.length} Envoy Gateway policy object(s) for ${routes} HTTPRoute target(s)` : '';
  return {
    type: 'Enforced',
    status: 'True',
    reason: 'Enforced',
    message: `Controls written to ${ingresses} Ingress(es)${gateway}, ${i.rendered.networkPolicies.length} NetworkPolicy(ies) and ${i.rendered.configMaps.length} sidecar ConfigMap(s)`,
  };
}

/** A spec the operator refuses (InvalidSpec, UnsafeValue): the rest of the status is kept as it was. */
export function refusedStatus(previous: ApiSecurityPolicyStatus | undefined, { generation, reason, message, now }: { generation: number; reason: string; message: string; now: Date }): ApiSecurityPolicyStatus {
  return {
    ...previous,
    observedGeneration: generation,
    conditions: mergeConditions(
      previous?.conditions,
      [
        // Invalid is the policy-attachment reason (GEP-713); Enforced carries the precise one.
        { type: 'Accepted', status: 'False', reason: 'Invalid', message },
        { type: 'Enforced', status: 'False', reason, message: `Not enforced: ${message}` },
        { type: 'Programmed', status: 'False', reason: 'Invalid', message: 'Not programmed: the policy is not accepted' },
        { type: 'Compliant', status: 'Unknown', reason, message: 'Not evaluated: the policy is not accepted' },
      ],
      generation,
      now,
    ),
  };
}

/** Drifted stays True (naming the last drift) until the generation changes; False otherwise. */
export function driftCondition(previous: readonly Condition[] | undefined, generation: number, drift: DriftSeen, now: Date): Condition {
  const last = previous?.find((c) => c.type === 'Drifted');
  let next: ConditionInput;
  if (drift.fight) next = { type: 'Drifted', status: 'True', reason: 'FightDetected', message: `Repairs paused: another writer keeps changing ${drift.description}` };
  else if (drift.description) next = { type: 'Drifted', status: 'True', reason: 'DriftRepaired', message: `Repaired: ${drift.description}` };
  else if (last?.status === 'True' && last.observedGeneration === generation) next = { type: 'Drifted', status: 'True', reason: last.reason, message: last.message };
  else next = { type: 'Drifted', status: 'False', reason: 'NoDrift', message: 'Everything the operator applied is as it applied it' };
  return mergeConditions(previous ? [...previous] : undefined, [next], generation, now)[0] as Condition;
}

/**
 * Converged: what the operator wants now is what it last applied completely (the digest in status) at
 * the current generation. Only then is a difference on a target someone else's change (drift).
 */
export function converged(status: Pick<ApiSecurityPolicyStatus, 'appliedDigest' | 'observedGeneration'> | undefined, digest: string, generation: number | undefined): boolean {
  return status?.appliedDigest === digest && status.observedGeneration === generation;
}

/** The digest to record: the new one only after a complete apply, else the last complete one (if any). */
export function recordedDigest(digest: string, previous: string | undefined, failed: boolean): string | undefined {
  return failed ? previous : digest;
}

// ---- suspicious activity (the guard's Events) ----

/** A SuspiciousActivity Event of the guard about a policy: when it was last seen and what it says. */
export interface SuspiciousEvent {
  at: string;
  note: string;
}

/** How long a reported brute force keeps the condition True after the last Event. */
export const SUSPICIOUS_WINDOW_MS = 60 * 60_000;

/**
 * SuspiciousActivity: True while the guard reported repeated authentication failures within the window,
 * naming the latest report; False once they age out; absent when there never were any (and none is in
 * status). `recheckInMs`: when the condition would turn False without another event.
 */
export function suspiciousCondition(events: readonly SuspiciousEvent[], previous: readonly Condition[] | undefined, now: Date): { condition?: ConditionInput; recheckInMs?: number } {
  const recent = events.filter((e) => now.getTime() - Date.parse(e.at) < SUSPICIOUS_WINDOW_MS).sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  const latest = recent[0];
  if (latest) {
    const more = recent.length > 1 ? ` (${recent.length} reports in the last hour)` : '';
    return {
      condition: { type: 'SuspiciousActivity', status: 'True', reason: 'RepeatedAuthenticationFailures', message: `The apisec guard reported at ${latest.at}: ${latest.note}${more}` },
      recheckInMs: Math.max(1000, Date.parse(latest.at) + SUSPICIOUS_WINDOW_MS - now.getTime()),
    };
  }
  if (!previous?.some((c) => c.type === 'SuspiciousActivity')) return {};
  return { condition: { type: 'SuspiciousActivity', status: 'False', reason: 'NoRecentReports', message: 'The apisec guard reported no repeated authentication failures in the last hour' } };
}

// ---- baselines ----

export interface BaselineTally {
  selected: number;
  policies: number;
  violations: number;
  conflicts: readonly string[];
}

export interface ProtectionTally {
  protected: number;
  unprotectable: readonly string[];
}

export interface BaselineStatusInput {
  generation: number;
  previous: ClusterApiSecurityPolicyStatus | undefined;
  /** undefined: the spec is invalid (the message says why). */
  tally: BaselineTally | undefined;
  invalid?: string;
  /** Present when the baseline protects uncovered Ingresses. */
  protection?: ProtectionTally;
  now: Date;
}

export function baselineStatus(i: BaselineStatusInput): ClusterApiSecurityPolicyStatus {
  const t = i.tally ?? { selected: 0, policies: 0, violations: 0, conflicts: [] };
  const conds: ConditionInput[] = [];
  if (!i.tally) conds.push({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: i.invalid ?? 'The spec is invalid' });
  else {
    conds.push(
      t.selected
        ? { type: 'Ready', status: 'True', reason: 'Selecting', message: `Selects ${t.selected} namespace(s) with ${t.policies} policy(ies)` }
        : { type: 'Ready', status: 'False', reason: 'SelectsNothing', message: 'The namespaceSelector matches no namespace' },
    );
    if (t.conflicts.length) conds.push({ type: 'Conflicted', status: 'True', reason: 'ConflictingBaselines', message: t.conflicts.slice(0, 5).join('; ') });
  }
  if (i.protection) conds.push(protectingCondition(i.protection));
  return {
    observedGeneration: i.generation,
    conditions: mergeConditions(i.previous?.conditions, conds, i.generation, i.now),
    selectedNamespaces: t.selected,
    policies: t.policies,
    violations: t.violations,
    ...(i.protection ? { protectedAPIs: i.protection.protected, unprotectable: i.protection.unprotectable.length } : {}),
  };
}

/** protectUncovered's condition on the baseline: how many uncovered Ingresses carry the floors, and which cannot. */
export function protectingCondition(p: ProtectionTally): ConditionInput {
  if (p.unprotectable.length === 0) return { type: 'Protecting', status: 'True', reason: 'FloorsWritten', message: `${p.protected} Ingress(es) without a policy carry the floors (annotations only: no NetworkPolicy)` };
  return { type: 'Protecting', status: 'False', reason: 'Unprotectable', message: `${p.protected} Ingress(es) carry the floors; ${p.unprotectable.length} cannot: ${listSome(p.unprotectable)}` };
}
