// metav1.Condition bookkeeping: lastTransitionTime moves only when a condition's status flips, so an
// unchanged posture produces an identical status and therefore no write.
import type { ApiSecurityPolicySpec, Condition } from '../api/v1alpha1.ts';
import { inert } from '../render/text.ts';
import type { ComplianceOutput } from './evaluate.ts';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

export function mergeConditions(previous: Condition[] | undefined, next: ConditionInput[], generation: number, now: Date): Condition[] {
  const byType = new Map((previous ?? []).map((c) => [c.type, c]));
  return next.map((c) => {
    const old = byType.get(c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : rfc3339(now);
    return { type: c.type, status: c.status, observedGeneration: generation, lastTransitionTime, reason: c.reason, message: inert(c.message, 32768) };
  });
}

/** Seconds precision, as metav1.Time serialises. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Compliant is True only when something is enforced and no control fails: never in Audit mode (nothing
 * is enforced there; the score it would have is in status.auditScore), never without a live target.
 */
export function compliantCondition(mode: ApiSecurityPolicySpec['mode'], c: ComplianceOutput, anyLive: boolean, loosened: readonly string[]): ConditionInput {
  const failing = c.controls.filter((r) => r.result === 'Fail').map((r) => r.control);
  const more = loosened.length ? `; loosens a baseline: ${loosened.length}` : '';
  if (mode === 'Audit') {
    return {
      type: 'Compliant',
      status: 'Unknown',
      reason: 'AuditMode',
      message: `Audit mode: nothing is enforced; enforced, the policy would score ${c.auditScore ?? 0}${failing.length ? ` with failing: ${failing.join(', ')}` : ''}${more}`,
    };
  }
  if (!anyLive) return { type: 'Compliant', status: 'False', reason: 'NothingEnforced', message: `No target is enforced, so nothing is protected${more}` };
  if (failing.length) return { type: 'Compliant', status: 'False', reason: 'ControlsFailing', message: `Failing: ${failing.join(', ')}${more}` };
  if (loosened.length) return { type: 'Compliant', status: 'False', reason: 'LoosensBaseline', message: `Loosens a baseline: ${loosened.slice(0, 5).join('; ')}` };
  return { type: 'Compliant', status: 'True', reason: 'AllControlsPass', message: `No control fails (score ${c.score})` };
}
