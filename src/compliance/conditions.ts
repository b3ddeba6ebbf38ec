// metav1.Condition bookkeeping: lastTransitionTime moves only when a condition's status flips, so an
// unchanged posture produces an identical status and therefore no write.
import type { Condition } from '../api/v1alpha1.ts';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

export function mergeConditions(previous: Condition[] | undefined, next: ConditionInput[], generation: number, now: Date): Condition[] {
  const byType = new Map((previous ?? []).map((c) => [c.type, c]));
  return next.map((c) => {
    const old = byType.get(c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : rfc3339(now);
    return { type: c.type, status: c.status, observedGeneration: generation, lastTransitionTime, reason: c.reason, message: c.message.slice(0, 32768) };
  });
}

/** Seconds precision, as metav1.Time serialises. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
