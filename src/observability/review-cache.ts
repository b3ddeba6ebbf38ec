// Remembered answers of an expensive asynchronous check (the /metrics filter's TokenReview and
// SubjectAccessReview), so a scraper that comes back every 30 s costs the API server two requests a minute
// at most. Each answer lives as long as ttlOf says (an allow longer than a deny, so a new RoleBinding
// takes effect soon); the table holds at most maxEntries answers and drops the oldest first, so a flood of
// random keys cannot grow memory; failures are never remembered. Concurrent checks of the same key share
// one call, and at most maxInFlight different keys are checked at once: past that, get() throws
// ReviewBusyError at once (the caller answers 503) instead of queueing API requests without bound.
import { systemClock, type Clock } from '../util/clock.ts';
import { ExpiringMap } from '../util/expiring-map.ts';

export interface ReviewCacheOptions<T> {
  /** How long an answer is remembered, in ms (0: not at all). */
  ttlOf: (value: T) => number;
  /** Default 1,000. */
  maxEntries?: number;
  /** Default 64. */
  maxInFlight?: number;
  clock?: Pick<Clock, 'now'>;
}

export class ReviewBusyError extends Error {
  constructor(inFlight: number) {
    super(`${inFlight} checks already in flight`);
    this.name = 'ReviewBusyError';
  }
}

export class ReviewCache<T> {
  private readonly entries: ExpiringMap<T>;
  private readonly inFlight = new Map<string, Promise<T>>();
  private readonly ttlOf: (value: T) => number;
  private readonly maxInFlight: number;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(opts: ReviewCacheOptions<T>) {
    this.ttlOf = opts.ttlOf;
    this.entries = new ExpiringMap(opts.maxEntries ?? 1_000);
    this.maxInFlight = opts.maxInFlight ?? 64;
    this.clock = opts.clock ?? systemClock;
  }

  /** The remembered answer for key, else the one check shares with every concurrent caller. */
  get(key: string, check: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key, this.clock.now());
    if (hit !== undefined) return Promise.resolve(hit);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    if (this.inFlight.size >= this.maxInFlight) return Promise.reject(new ReviewBusyError(this.inFlight.size));
    const p = check().then(
      (value) => {
        this.inFlight.delete(key);
        this.remember(key, value);
        return value;
      },
      (err: unknown) => {
        this.inFlight.delete(key);
        throw err;
      },
    );
    this.inFlight.set(key, p);
    return p;
  }

  private remember(key: string, value: T): void {
    const ttl = this.ttlOf(value);
    if (ttl <= 0) return;
    this.entries.set(key, value, this.clock.now() + ttl);
  }

  get size(): number {
    return this.entries.size;
  }

  get checking(): number {
    return this.inFlight.size;
  }
}
