// The offline core of `apisec check` and `apisec render`: every policy of the input through the same
// resolve → render → evaluate as the operator (src/compliance/assess.ts), the APIs no policy covers, and
// the verdict under the user's thresholds. Pure: documents in, results out.
import { codeUnitOrder } from '../util/order.ts';
import { ApiSecurityPolicySpec, formatIssues, type ControlResult } from '../api/v1alpha1.ts';
import { parseBaselineSpec } from '../api/cluster-v1alpha1.ts';
import { assessPolicy, type Assessment, type TargetState } from '../compliance/assess.ts';
import { claimOf, type PolicyClaim } from '../compliance/claims.ts';
import { applyBaselines, matchesSelector, type Baseline, type Violation } from '../compliance/baseline.ts';
import { consents, secretRefusal, type ConsentState, type SecretUse } from '../compliance/secret-consent.ts';
import { wouldProtect } from '../compliance/protect.ts';
import { UnsafeValueError } from '../render/sidecar-nginx.ts';
import type { RouteLike } from '../render/gateway-api.ts';
import type { IngressLike, OperatorSettings, ServiceLike } from '../render/types.ts';
import type { Location } from './documents.ts';
import { uncoveredApis, type UncoveredApi } from './coverage.ts';
import type { Inventory, Located, RawPolicy } from './inventory.ts';

export interface TargetReport {
  kind: 'Ingress' | 'Service' | 'HTTPRoute';
  name: string;
  state: TargetState;
  provider?: string;
  message?: string;
}

export interface PolicyReport {
  namespace: string;
  name: string;
  at: Location;
  mode: ApiSecurityPolicySpec['mode'];
  /** What is protected now (0 in Audit mode). */
  score: number;
  /** Audit mode: the score if the policy were enforced. */
  auditScore?: number;
  violations: number;
  targets: TargetReport[];
  controls: ControlResult[];
  /** Fields looser than a selecting baseline's floor (the operator enforces the floor instead). */
  baselineViolations?: Violation[];
}

/**
 * A policy the operator would refuse: the schema (InvalidSpec), the outbound-URL check (OutboundURLRefused)
 * or a renderer (UnsafeValue, RenderFailed) said no.
 */
export interface PolicyError {
  namespace: string;
  name: string;
  at: Location;
  reason: string;
  message: string;
}

export interface CheckResult {
  policies: PolicyReport[];
  errors: PolicyError[];
  uncovered: UncoveredApi[];
}

export interface Assessed {
  policy: Located<RawPolicy>;
  /** The effective spec: the policy's own, held to the baselines that select its namespace. */
  spec: ApiSecurityPolicySpec;
  assessment: Assessment;
  baselineViolations: Violation[];
}

/** The valid baselines of the input and, per namespace, those that select it (as the operator does). */
function baselineSelection(inv: Inventory, errors: PolicyError[]): { selecting: (ns: string) => Baseline[] } {
  const valid: (Baseline & { selector: Parameters<typeof matchesSelector>[1] })[] = [];
  for (const b of inv.baselines) {
    const parsed = parseBaselineSpec(b.object.spec);
    if (!parsed.ok) {
      errors.push({ namespace: '', name: b.object.metadata.name, at: b.at, reason: 'InvalidSpec', message: parsed.message });
      continue;
    }
    const { name, creationTimestamp } = b.object.metadata;
    valid.push({ name, floors: parsed.spec.floors, protectUncovered: parsed.spec.protectUncovered, selector: parsed.spec.namespaceSelector, ...(creationTimestamp ? { creationTimestamp } : {}) });
  }
  const labels = new Map(inv.namespaces.map((n) => [n.object.metadata.name, n.object.metadata.labels ?? {}]));
  return {
    // A namespace not in the input has only the label Kubernetes gives every namespace.
    selecting: (ns) => valid.filter((b) => matchesSelector(labels.get(ns) ?? { 'kubernetes.io/metadata.name': ns }, b.selector)),
  };
}

const byName = <T extends { metadata: { name: string; namespace?: string } }>(items: Located<T>[], ns: string): Map<string, T> =>
  new Map(items.filter((i) => i.object.metadata.namespace === ns).map((i) => [i.object.metadata.name, i.object]));

const refKey = (p: Located<RawPolicy>): string => `${p.object.metadata.namespace}/${p.object.metadata.name}`;

/**
 * Validates and assesses every policy, in namespace/name order. An invalid policy neither claims nor
 * covers a target: the API server refuses it (the CRD's schema matches this one), so it never governs.
 */
export function assessInventory(inv: Inventory, settings: OperatorSettings): { assessed: Assessed[]; errors: PolicyError[]; selecting: (ns: string) => Baseline[] } {
  const errors: PolicyError[] = [];
  const valid: { policy: Located<RawPolicy>; spec: ApiSecurityPolicySpec }[] = [];
  for (const p of [...inv.policies].sort((a, b) => codeUnitOrder(refKey(a), refKey(b)))) {
    // parseSpec's check, keeping the issues so the report points at the line of the first bad field.
    const parsed = ApiSecurityPolicySpec.safeParse(p.object.spec);
    if (parsed.success) {
      valid.push({ policy: p, spec: parsed.data });
      continue;
    }
    const line = p.lineOf?.(['spec', ...(parsed.error.issues[0]?.path ?? [])]) ?? p.at.line;
    errors.push({ namespace: p.object.metadata.namespace, name: p.object.metadata.name, at: { file: p.at.file, line }, reason: 'InvalidSpec', message: formatIssues(parsed.error.issues) });
  }
  const assessed: Assessed[] = [];
  const { selecting } = baselineSelection(inv, errors);
  for (const { policy: p, spec: own } of valid) {
    const { name, namespace, uid, creationTimestamp } = p.object.metadata;
    const { effective: spec, violations: baselineViolations, providers, authHosts } = applyBaselines(own, name, selecting(namespace));
    // Refused like the operator when the files hold the Secret without the label; not knowable without it.
    const refused = secretRefusal(namespace, spec, (use, secret) => consentState(inv, { namespace, name: secret }, use));
    if (refused) {
      const path = refused.reason === 'ClientCANotLabelled' ? ['spec', 'authentication', 'mtls', 'caSecretRef'] : ['spec', 'authentication', 'apiKey', 'secretRef'];
      errors.push({ namespace, name, at: { file: p.at.file, line: p.lineOf?.(path) ?? p.at.line }, ...refused });
      continue;
    }
    const ingresses = byName<IngressLike>(inv.ingresses, namespace);
    const services = byName<ServiceLike>(inv.services, namespace);
    const routes = byName<RouteLike>(inv.httpRoutes, namespace);
    const rivals = inv.policies
      .filter((o) => o.object.metadata.namespace === namespace)
      .map((o) => claimOf(o.object))
      .filter((c): c is PolicyClaim => c !== undefined);
    try {
      const assessment = assessPolicy({
        policy: { name, namespace, uid: uid ?? '', creationTimestamp },
        spec,
        rivals,
        lookup: {
          ingress: (n) => ingresses.get(n),
          service: (n) => services.get(n),
          route: (n) => routes.get(n),
          gateway: (ns, n) => inv.gateways.find((g) => g.object.metadata.namespace === ns && g.object.metadata.name === n)?.object,
          gatewayClass: (n) => inv.gatewayClasses.find((c) => c.object.metadata.name === n)?.object,
        },
        settings,
        allowedProviders: providers,
        authHosts,
      });
      assessed.push({ policy: p, spec, assessment, baselineViolations });
    } catch (err) {
      // The operator refuses such a policy as terminal too (defence in depth behind the schema).
      errors.push({ namespace, name, at: p.at, reason: err instanceof UnsafeValueError ? err.reason : 'RenderFailed', message: err instanceof Error ? err.message : String(err) });
    }
  }
  return { assessed, errors, selecting };
}

function consentState(inv: Inventory, { namespace, name }: { namespace: string; name: string }, use: SecretUse): ConsentState {
  const secret = inv.secrets.find((s) => s.object.metadata.namespace === namespace && s.object.metadata.name === name);
  if (!secret) return 'unknown';
  return consents(use, secret.object.metadata.labels) ? 'labelled' : 'unlabelled';
}

export function check(inv: Inventory, settings: OperatorSettings): CheckResult {
  const { assessed, errors, selecting } = assessInventory(inv, settings);
  const policies = assessed.map(({ policy, spec, assessment, baselineViolations }): PolicyReport => ({
    namespace: policy.object.metadata.namespace,
    name: policy.object.metadata.name,
    at: policy.at,
    mode: spec.mode,
    score: assessment.compliance.score,
    ...(assessment.compliance.auditScore !== undefined ? { auditScore: assessment.compliance.auditScore } : {}),
    violations: assessment.compliance.violations + baselineViolations.length,
    ...(baselineViolations.length ? { baselineViolations } : {}),
    targets: assessment.targets.map((t) => ({
      kind: t.ref.kind,
      name: t.ref.name,
      state: t.state,
      ...(t.provider ? { provider: t.provider } : {}),
      ...(t.message ? { message: t.message } : {}),
    })),
    controls: assessment.compliance.controls,
  }));
  const uncovered = uncoveredApis({
    policies: inv.policies.map((p) => p.object),
    ingresses: inv.ingresses.map((i) => ({ object: i.object, at: i.at })),
    services: inv.services.map((s) => ({ object: s.object, at: s.at })),
    routes: inv.httpRoutes.map((r) => ({ object: r.object, at: r.at })),
    baselineFor: (ns) => selecting(ns).map((b) => b.name).sort()[0],
    protectedBy: (ing) => {
      const ns = ing.metadata.namespace ?? '';
      const policies = assessed.filter((a) => a.policy.object.metadata.namespace === ns).map((a) => ({ name: a.policy.object.metadata.name, spec: a.spec }));
      return wouldProtect(ing, selecting(ns), policies, settings);
    },
  });

  return { policies, errors, uncovered };
}

// ---- verdict ----

export type FailOn = 'fail' | 'warn' | 'never';

export interface Thresholds {
  failOn: FailOn;
  minScore: number;
  allowUncovered: boolean;
}

export const defaultThresholds: Thresholds = { failOn: 'fail', minScore: 0, allowUncovered: false };

export type Outcome = 'pass' | 'warn' | 'fail';

/** Targets the operator would not protect as written: a warning, like a Warn control. */
export const targetProblems = (p: PolicyReport): TargetReport[] => p.targets.filter((t) => t.state !== 'Enforced' && t.state !== 'Audit');

/** The fact, whatever the thresholds: fail on a failing control or a score below the minimum. */
export function outcomeOf(p: PolicyReport, t: Thresholds): Outcome {
  if (p.controls.some((c) => c.result === 'Fail') || p.baselineViolations?.length || p.score < t.minScore) return 'fail';
  // Audit mode enforces nothing: never a plain pass.
  if (p.controls.some((c) => c.result === 'Warn') || targetProblems(p).length || p.mode === 'Audit') return 'warn';
  return 'pass';
}

/** Whether a control result fails the run under --fail-on. */
export const counts = (result: ControlResult['result'], failOn: FailOn): boolean =>
  (result === 'Fail' && failOn !== 'never') || (result === 'Warn' && failOn === 'warn');

export interface Verdict {
  exitCode: 0 | 1 | 2;
  /** Why the run failed, one line each; empty when it passed. */
  reasons: string[];
}

const list = (names: string[], max = 5): string => (names.length > max ? `${names.slice(0, max).join(', ')} and ${names.length - max} more` : names.join(', '));

export function judge(r: CheckResult, t: Thresholds): Verdict {
  const reasons: string[] = [];
  if (r.errors.length) reasons.push(`${r.errors.length} polic${r.errors.length === 1 ? 'y is' : 'ies are'} invalid: ${list(r.errors.map((e) => `${e.namespace}/${e.name}`))}`);
  for (const p of r.policies) {
    const id = `${p.namespace}/${p.name}`;
    const failing = p.controls.filter((c) => c.result === 'Fail' && counts(c.result, t.failOn)).map((c) => c.control);
    if (failing.length) reasons.push(`${id} fails ${list(failing)}`);
    const warning = p.controls.filter((c) => c.result === 'Warn' && counts(c.result, t.failOn)).map((c) => c.control);
    if (warning.length) reasons.push(`${id} warns on ${list(warning)}`);
    if (p.baselineViolations?.length && t.failOn !== 'never') reasons.push(`${id} loosens a baseline: ${list(p.baselineViolations.map((v) => `${v.field} (${v.baseline})`))}`);
    if (p.mode === 'Audit' && t.failOn === 'warn') reasons.push(`${id} is in Audit mode: nothing is enforced (enforced, it would score ${p.auditScore ?? 0})`);
    const problems = t.failOn === 'warn' ? targetProblems(p) : [];
    if (problems.length) reasons.push(`${id}: ${list(problems.map((x) => `${x.kind} ${x.name} is ${x.state}`))}`);
    if (p.score < t.minScore) reasons.push(`${id} scores ${p.score}, below --min-score ${t.minScore}`);
  }
  if (r.uncovered.length && !t.allowUncovered) {
    reasons.push(`${r.uncovered.length} API${r.uncovered.length === 1 ? ' is' : 's are'} not covered by any policy: ${list(r.uncovered.map((u) => `${u.kind} ${u.namespace}/${u.name}`))}`);
  }
  return { exitCode: r.errors.length ? 2 : reasons.length ? 1 : 0, reasons };
}
