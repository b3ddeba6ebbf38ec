// The guard's global rate limit for one check request: counts it in the store when the policy's limit is
// Global and the guard has a store (--rate-limit-store), and says what to answer. A store that cannot
// answer gives the policy's onStoreUnavailable: Allow (uncounted) or Deny (503), both counted in metrics.
import { storeUnavailable } from '../api/v1alpha1.ts';
import type { GuardPolicy } from './decide.ts';
import type { GuardMetrics } from './metrics.ts';
import { keyValue, limitHeaders, limitParams, storeKey, type Counted } from './rate-limit.ts';
import type { Counter } from './store.ts';

export type LimitOutcome =
  | { answer: false }
  | { answer: true; status: 429 | 503; reason: 'RateLimited' | 'RateLimitStoreUnavailable'; headers: Record<string, string>; detail: string };

const PASS: LimitOutcome = { answer: false };

/** At most one report per policy per window of a store the guard cannot reach (entries older than it are pruned). */
export class StoreReports {
  private readonly last = new Map<string, number>();
  private readonly windowMs: number;

  constructor(windowMs = 60_000) {
    this.windowMs = windowMs;
  }

  due(policy: string, nowMs: number): boolean {
    for (const [p, t] of this.last) if (nowMs - t >= this.windowMs) this.last.delete(p);
    if (this.last.has(policy)) return false;
    this.last.set(policy, nowMs);
    return true;
  }
}

/** Called when a count failed: the policy and what its requests get meanwhile. */
export type OnStoreUnavailable = (policy: GuardPolicy, action: 'Allow' | 'Deny') => void;

export interface LimitContext {
  counter: Counter | undefined;
  metrics: GuardMetrics;
  onStoreUnavailable?: OnStoreUnavailable | undefined;
}

/**
 * `stage`: before the decision (ClientIP and Header keys: every request counts, bad credentials too), or
 * after an allow (Subject: the identity the guard verified; a request without one is refused anyway).
 */
export async function checkLimit({ counter, metrics, onStoreUnavailable }: LimitContext, policy: GuardPolicy, req: Counted, stage: 'before' | 'after'): Promise<LimitOutcome> {
  const rl = policy.spec.rateLimit;
  if (!counter || rl?.scope !== 'Global' || (rl.key === 'Subject') !== (stage === 'after')) return PASS;
  const name = `${policy.namespace}/${policy.name}`;
  const value = keyValue(rl, req);
  if (rl.key === 'Subject' && value === undefined) return PASS;
  // A Header key without the header: those requests share one count, as Traefik's do.
  const p = limitParams(rl);
  const key = storeKey(name, rl.key, value ?? '', p);
  try {
    const r = await counter.take(key, p);
    metrics.storeUp.set(1);
    metrics.rateLimited.inc({ policy: name, key: rl.key, result: r.allowed ? 'allowed' : 'limited' });
    if (r.allowed) return PASS;
    return { answer: true, status: 429, reason: 'RateLimited', headers: limitHeaders(p, r), detail: 'too many requests from this client (global rate limit)' };
  } catch {
    metrics.storeUp.set(0);
    metrics.storeErrors.inc();
    const action = storeUnavailable(rl);
    metrics.rateLimited.inc({ policy: name, key: rl.key, result: action === 'Allow' ? 'store_unavailable_allowed' : 'store_unavailable_denied' });
    onStoreUnavailable?.(policy, action);
    if (action === 'Allow') return PASS;
    return { answer: true, status: 503, reason: 'RateLimitStoreUnavailable', headers: { 'Retry-After': '1' }, detail: 'the rate-limit store cannot be reached and the policy denies meanwhile (onStoreUnavailable: Deny)' };
  }
}
