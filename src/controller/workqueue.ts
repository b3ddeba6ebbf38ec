// A rate-limited workqueue in the manner of client-go's: keys are deduplicated while waiting, a key is
// never handed to two workers at once (a key added while it is processed is requeued once when done),
// failures back off per key exponentially up to a cap, and addAfter schedules a re-check. Per-key state
// is pruned by forget() and done(), so the maps never grow beyond the keys in flight. Metrics are a
// collaborator told of each add and retry, as in client-go, not counters polled from outside.
// Periodic resyncs wait in a second, low-priority lane: a resync of every key never queues ahead of a
// real change (a key waiting there moves to the front lane when an event adds it).
import type { QueueMetrics } from '../observability/metrics.ts';
import { systemClock, type Clock } from '../util/clock.ts';

export interface WorkqueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Time and timers (a manual clock in tests); defaults to the system clock. */
  clock?: Clock;
  metrics?: QueueMetrics;
}

export class Workqueue {
  private readonly queue: string[] = [];
  /** Keys due for a periodic resync, served only when `queue` is empty. */
  private readonly low: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  /** When each waiting key was added (insertion order: the first entry waited longest). */
  private readonly since = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; handle: unknown }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private readonly clock: Clock;
  private readonly metrics: QueueMetrics | undefined;
  private added = 0;
  private retried = 0;

  constructor(opts: WorkqueueOptions = {}) {
    this.baseDelay = opts.baseDelayMs ?? 200;
    this.maxDelay = opts.maxDelayMs ?? 5 * 60_000;
    this.clock = opts.clock ?? systemClock;
    this.metrics = opts.metrics;
  }

  /** Keys added since the queue was made (what apisec_workqueue_adds_total counts). */
  get adds(): number {
    return this.added;
  }

  /** Backoff requeues since the queue was made (apisec_workqueue_retries_total). */
  get retries(): number {
    return this.retried;
  }

  get depth(): number {
    return this.queue.length + this.low.length;
  }

  /** How long the key that waits longest has waited (0 when none waits): a queue that is stuck shows here. */
  get oldestWaitingMs(): number {
    const first = this.since.values().next();
    return first.done ? 0 : Math.max(0, this.clock.now() - first.value);
  }

  get inFlight(): number {
    return this.processing.size;
  }

  /** Keys waiting for a delayed add (backoff or requeueAfter). */
  get scheduled(): number {
    return this.timers.size;
  }

  /** Adds a key; `low`: a periodic resync, served after every other waiting key. */
  add(key: string, { low = false }: { low?: boolean } = {}): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) {
      // A real change of a key that waits only for its resync goes to the front lane.
      const i = low ? -1 : this.low.indexOf(key);
      if (i >= 0) {
        this.low.splice(i, 1);
        this.queue.push(key);
      }
      return;
    }
    this.added++;
    this.metrics?.added();
    this.dirty.add(key);
    if (!this.since.has(key)) this.since.set(key, this.clock.now());
    if (this.processing.has(key)) return; // requeued by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.since.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      (low ? this.low : this.queue).push(key);
    }
  }

  /** Adds the key after ms (`low`: as a resync); an earlier pending schedule for the same key wins. */
  addAfter(key: string, ms: number, { low = false }: { low?: boolean } = {}): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key, { low });
    const at = this.clock.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimer(existing.handle);
    const handle = this.clock.setTimer(() => {
      this.timers.delete(key);
      this.add(key, { low });
    }, ms);
    this.timers.set(key, { at, handle });
  }

  /** Schedules a retry with per-key exponential backoff; returns the delay chosen. */
  addRateLimited(key: string, minDelayMs = 0): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.retried++;
    this.metrics?.retried();
    const delay = Math.max(minDelayMs, Math.min(this.maxDelay, this.baseDelay * 2 ** Math.min(n, 30)));
    this.addAfter(key, delay);
    return delay;
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resets the backoff of a key after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Waits for the next key; undefined once the queue is shut down and empty. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift() ?? this.low.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.since.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /**
   * A worker: hands each key to `handle` (which must call done) until the queue shuts down. Between keys
   * it gives the event loop a turn: a reconcile that needs no request (all from the caches) resolves in
   * microtasks, and a queue of such keys would otherwise hold the loop — watches, lease renewals, probes —
   * for as long as the queue lasts (1.5 s at the end of a cold start of 3,000 policies).
   */
  async run(handle: (key: string) => Promise<void>): Promise<void> {
    for (let key = await this.get(); key !== undefined; key = await this.get()) {
      await handle(key);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Stops handing out keys: pending timers are cancelled, waiting workers get undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) this.clock.clearTimer(t.handle);
    this.timers.clear();
    this.queue.length = 0;
    this.low.length = 0;
    this.dirty.clear();
    this.since.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }
}
