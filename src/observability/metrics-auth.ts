// The /metrics filter of --metrics-auth=kubernetes, with the behaviour of controller-runtime's
// WithAuthenticationAndAuthorization and kube-rbac-proxy: a request needs `Authorization: Bearer
// <token>`; the API server says whose token it is (TokenReview) and whether that user may `get` the
// non-resource URL /metrics (SubjectAccessReview, with the user's groups, uid and extra). No or an
// unauthenticated token: 401 with `WWW-Authenticate: Bearer`; not allowed: 403; the API server failing
// or too slow: 503 (nothing remembered). Answers are remembered per SHA-256 of the token (the token
// itself is kept nowhere, logged nowhere and echoed nowhere) for a bounded time: an allow 60 s, a deny
// 10 s. The reviews themselves are injected (src/k8s/review.ts in main.ts): this layer talks to no API.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../util/clock.ts';
import { ReviewBusyError, ReviewCache } from './review-cache.ts';

/** The user a token belongs to, as TokenReview reports it. */
export interface MetricsUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** The two API calls; each throws when the API server cannot answer. */
export interface MetricsReviewer {
  /** The token's user, or undefined when it is not authenticated. */
  authenticate(token: string, signal: AbortSignal): Promise<MetricsUser | undefined>;
  authorize(user: MetricsUser, attributes: { path: string; verb: string }, signal: AbortSignal): Promise<{ allowed: boolean; reason?: string }>;
}

export type AuthDecision =
  | { status: 200; user: string }
  | { status: 401; reason: string }
  | { status: 403; user: string; reason?: string }
  | { status: 503; reason: string };

export interface MetricsAuthOptions {
  reviewer: MetricsReviewer;
  log: Logger;
  /** How long an allowed token is remembered (default 60 s). */
  allowTtlMs?: number;
  /** How long an unauthenticated or refused token is remembered (default 10 s). */
  denyTtlMs?: number;
  /** Remembered tokens at most, the oldest dropped first (default 1,000). */
  maxEntries?: number;
  /** Both reviews of one token together (default 5 s); later, the request gets 503. */
  timeoutMs?: number;
  clock?: Pick<Clock, 'now'>;
}

export const METRICS_ATTRIBUTES = { path: '/metrics', verb: 'get' } as const;

/** The token of an `Authorization: Bearer <token>` header, else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer +([^\s]+) *$/i.exec(header ?? '');
  return m?.[1];
}

export class MetricsAuth {
  private readonly reviewer: MetricsReviewer;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly cache: ReviewCache<AuthDecision>;

  constructor(opts: MetricsAuthOptions) {
    this.reviewer = opts.reviewer;
    this.log = opts.log;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    const allow = opts.allowTtlMs ?? 60_000;
    const deny = opts.denyTtlMs ?? 10_000;
    this.cache = new ReviewCache<AuthDecision>({
      ttlOf: (d) => (d.status === 200 ? allow : d.status === 503 ? 0 : deny),
      ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
  }

  /** The decision for a request's Authorization header. Never throws. */
  async check(authorization: string | undefined): Promise<AuthDecision> {
    const token = bearerToken(authorization);
    if (!token) return { status: 401, reason: 'a bearer token is required' };
    const key = createHash('sha256').update(token).digest('hex');
    try {
      return await this.cache.get(key, () => this.review(token));
    } catch (err) {
      // ApiError messages name the method, path and the server's reason, never the request body.
      const why = err instanceof ReviewBusyError ? err.message : err instanceof Error ? err.message : String(err);
      this.log.warn({ err: why }, 'Cannot check a /metrics token');
      return { status: 503, reason: 'the token cannot be checked now' };
    }
  }

  private async review(token: string): Promise<AuthDecision> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    const user = await this.reviewer.authenticate(token, signal);
    if (!user) return { status: 401, reason: 'the token is not valid' };
    const { allowed, reason } = await this.reviewer.authorize(user, METRICS_ATTRIBUTES, signal);
    if (allowed) return { status: 200, user: user.username };
    this.log.info({ user: user.username, reason }, 'Refused /metrics');
    return { status: 403, user: user.username, ...(reason ? { reason } : {}) };
  }
}
