// RateLimitStoreUnavailable on a policy with a Global rate limit, from the guard's labelled Events: the
// guard could not reach the platform's rate-limit store for this policy, so its requests were let
// through uncounted or refused (onStoreUnavailable). The operator never talks to the store itself. Anyone who
// may create Events in the namespace could write such a report: its note is made inert and clipped.
import type { Condition } from '../api/v1alpha1.ts';
import { inert } from '../render/text.ts';
import type { ConditionInput } from './conditions.ts';
import type { SuspiciousEvent } from './status.ts';

/** How long one report keeps the condition True: the guard reports at most once a minute per policy. */
export const STORE_REPORT_WINDOW_MS = 5 * 60_000;

/** True while a report is younger than the window (naming the latest); False once they age out; absent when there never were any. */
export function storeCondition(reports: readonly SuspiciousEvent[], previous: readonly Condition[] | undefined, now: Date): { condition?: ConditionInput; recheckInMs?: number } {
  const recent = reports.map((r) => ({ ...r, t: Date.parse(r.at) })).filter((r) => now.getTime() - r.t < STORE_REPORT_WINDOW_MS);
  const latest = recent.reduce<(typeof recent)[number] | undefined>((a, b) => (a === undefined || b.t > a.t ? b : a), undefined);
  const type = 'RateLimitStoreUnavailable';
  if (latest) {
    return {
      condition: { type, status: 'True', reason: 'GuardReported', message: inert(`The apisec guard reported at ${latest.at}: ${latest.note}`, 512, true) },
      recheckInMs: Math.max(1000, latest.t + STORE_REPORT_WINDOW_MS - now.getTime()),
    };
  }
  if (!previous?.some((c) => c.type === type)) return {};
  return { condition: { type, status: 'False', reason: 'NoRecentReports', message: 'The apisec guard reported no failure to reach the rate-limit store in the last 5 minutes' } };
}
