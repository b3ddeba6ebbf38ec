// rateLimit.scope for every renderer: what a Global limit needs from the data plane and the operator's
// store, and the part a data plane that counts per replica leaves unenforced (a Global limit that is
// counted per replica lets N replicas grant N budgets, so it is a gap, not an approximation).
import { storeUnavailable, type ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { guardDecides } from './delegation.ts';
import type { FidelityNote, RateLimitStore } from './types.ts';

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

/** Where the apisec guard is in a data plane's path (its check URL for the policy) and how it is called. */
export interface GuardPath {
  guard?: string | undefined;
  store?: RateLimitStore | undefined;
  /** forwardAuth, auth-url, auth_request, extAuth. */
  how: string;
  /** Whether the data plane passes the guard's 429 to the client (nginx's auth_request turns it into 500). */
  passes429: boolean;
}

/**
 * key Subject: only the apisec guard counts per identity (the JWT subject or API-key client id it
 * verified), so a data plane renders no limiter of its own for it. The note, or undefined for other keys.
 */
export function subjectNote(spec: ApiSecurityPolicySpec, path: GuardPath): FidelityNote | undefined {
  const rl = spec.rateLimit;
  if (rl?.key !== 'Subject') return undefined;
  const conns = rl.maxConnections !== undefined ? [`maxConnections ${rl.maxConnections}: not counted with key Subject`] : [];
  const how = `counted per authenticated identity (JWT subject, API-key client id) by the apisec guard (${path.how}) in the platform's store, after it verified the credentials (requests without valid ones are refused first)`;
  if (path.guard === undefined || !guardDecides(spec.authentication) || !path.store) {
    const missing = [!guardDecides(spec.authentication) ? 'jwt, oidc or apiKey authentication without authURL' : '', path.guard === undefined ? "the operator's --guard-url" : '', path.store ? '' : '--rate-limit-store'].filter(Boolean);
    return { fidelity: 'Unsupported', reason: 'only the apisec guard counts per identity', unenforced: [`key Subject: needs ${missing.join(', ')}`, ...conns] };
  }
  if (!path.passes429) return { fidelity: 'Approximated', reason: `${how}; ${path.how} answers 500 to a limited client, not 429 with Retry-After`, ...(conns.length ? { unenforced: conns } : {}) };
  const unavailable = storeUnavailable(rl) === 'Allow' ? 'passes uncounted' : 'is refused with 503';
  return { fidelity: conns.length ? 'Approximated' : 'Exact', reason: `${how}; while the store cannot be reached a request ${unavailable}`, ...(conns.length ? { unenforced: conns } : {}) };
}

/**
 * A Global limit by ClientIP or Header counted by the apisec guard on `path` (it calls the guard for the
 * policy's authentication and passes its 429), in the store: the note, or undefined where the guard does
 * not count it (the data plane's own per-replica count is then all there is, and the global count a gap).
 */
export function guardGlobalNote(spec: ApiSecurityPolicySpec, path: GuardPath): FidelityNote | undefined {
  const rl = spec.rateLimit;
  if (rl?.scope !== 'Global' || rl.key === 'Subject' || !path.passes429 || path.guard === undefined || !path.store || !guardDecides(spec.authentication)) return undefined;
  const unavailable = storeUnavailable(rl) === 'Allow' ? 'passes uncounted' : 'is refused with 503';
  const reason = `counted across every replica by the apisec guard (${path.how}) in the platform's store: 429 with Retry-After and RateLimit-*; while the store cannot be reached a request ${unavailable}`;
  if (rl.maxConnections === undefined) return { fidelity: 'Exact', reason };
  return { fidelity: 'Approximated', reason: `${reason}; maxConnections ${rl.maxConnections} counted per replica` };
}

/**
 * rateLimit.windows: only the apisec guard counts them (sliding-window estimates in the store, so at best
 * Approximated). The data plane's note with them: counted by the guard on `path`, or named as unenforced.
 */
export function withWindows(note: FidelityNote, spec: ApiSecurityPolicySpec, path: GuardPath): FidelityNote {
  const w = spec.rateLimit?.windows;
  if (!w?.length) return note;
  const what = `windows ${w.map((x) => `${x.requests} per ${x.period}`).join(', ')}`;
  if (path.guard === undefined || !guardDecides(spec.authentication) || !path.store) {
    return { ...note, unenforced: [...(note.unenforced ?? []), `${what}: counted only by the apisec guard (it needs jwt, oidc or apiKey authentication without authURL, --guard-url and --rate-limit-store)`] };
  }
  const how = `${what} counted by the apisec guard (${path.how}) in the store, as sliding-window estimates (the previous period taken as evenly spread)${path.passes429 ? '' : `; ${path.how} answers 500 to a limited client, not 429`}`;
  return { ...note, fidelity: note.fidelity === 'Exact' ? 'Approximated' : note.fidelity, reason: [note.reason, how].filter(Boolean).join('; ') };
}
