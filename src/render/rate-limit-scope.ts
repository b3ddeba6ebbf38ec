// rateLimit.scope for every renderer: what a Global limit needs from the data plane and the operator's
// store, and the part a data plane that counts per replica leaves unenforced (a Global limit that is
// counted per replica lets N replicas grant N budgets, so it is a gap, not an approximation).
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import type { RateLimitStore } from './types.ts';

export const NO_STORE = 'no rate-limit store is configured in the operator (--rate-limit-store)';

/** The unenforced entry of a Global limit on a data plane (`who`) that only counts per replica. */
export function globalCountGap(spec: ApiSecurityPolicySpec, who: string): string[] {
  return spec.rateLimit?.scope === 'Global' ? [`global count (scope Global): ${who} counts per replica and cannot use the rate-limit store`] : [];
}

/** Whether a data plane that reads the store without credentials can count a Global limit, and why not. */
export function storeWithoutCredentials(store: RateLimitStore | undefined, who: string): { endpoint: string } | { gap: string } {
  if (!store) return { gap: `global count (scope Global): ${NO_STORE}` };
  if (store.credentials) {
    return { gap: `global count (scope Global): ${who} reads store credentials only from a Secret in the policy's namespace, and the operator does not copy the platform's credentials there (use a store without credentials, reachable only from the data plane)` };
  }
  return { endpoint: store.endpoint };
}
