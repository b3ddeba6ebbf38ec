// Error taxonomy: transient errors are retried by the workqueue with backoff; terminal ones become a
// condition and wait for the next generation. Messages carry the API's own reason, never a whole object.

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly retryAfterSeconds?: number;

  constructor(message: string, status: number, reason: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  static fromResponse({ method, path }: { method: string; path: string }, { status, body, retryAfter }: { status: number; body: string; retryAfter: string | null }): ApiError {
    let reason = '';
    let message = body.slice(0, 300);
    try {
      const s = JSON.parse(body) as { reason?: string; message?: string };
      reason = s.reason ?? '';
      message = s.message ?? message;
    } catch {
      /* not a Status object */
    }
    const ra = retryAfter && /^[0-9]+$/.test(retryAfter) ? Number(retryAfter) : undefined;
    return new ApiError(`${method} ${path}: ${status} ${reason}: ${message}`.trim(), status, reason, ra);
  }

  static fromNetwork(method: string, path: string, err: unknown): ApiError {
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    return new ApiError(`${method} ${path}: network error: ${cause}`, 0, 'NetworkError');
  }
}

/** 409 conflicts, 429 throttling, 5xx and network failures: worth retrying with backoff. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return err.status === 0 || err.status === 409 || err.status === 429 || err.status >= 500;
}

/**
 * A condition reason naming why a request failed, from its status code (never from the server's own
 * reason text, which an admission webhook chooses): what a policy whose reconcile keeps failing shows in
 * `Enforced=Unknown`.
 */
export function failureReason(err: unknown): string {
  if (!(err instanceof ApiError)) return 'ReconcileFailed';
  const byCode: Record<number, string> = {
    0: 'APIUnreachable',
    400: 'WriteRefused',
    401: 'Unauthorized',
    403: 'WriteForbidden',
    404: 'WriteNotFound',
    409: 'WriteConflict',
    422: 'WriteInvalid',
    429: 'Throttled',
    503: 'APIUnavailable',
    504: 'RequestTimeout',
  };
  return byCode[err.status] ?? (err.status >= 500 ? 'APIServerError' : 'WriteRefused');
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}

export function isGone(err: unknown): boolean {
  return err instanceof ApiError && err.status === 410;
}

/** A spec problem that retrying cannot fix: reported in status, retried when the generation changes. */
export class TerminalError extends Error {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.name = 'TerminalError';
    this.reason = reason;
  }
}
