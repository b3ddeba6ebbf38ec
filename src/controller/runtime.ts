// A small controller runtime in the manner of controller-runtime: one Controller per kind of key, with its
// own workqueue, and one worker loop that owns the error contract, so reconcilers only decide and write:
//   - success                → the key's backoff is reset; `{ requeueAfterMs }` schedules a re-check;
//   - TerminalError          → no retry until an event adds the key again (the reconciler said so in status);
//   - any other error        → rate-limited requeue (per-key exponential backoff, at least Retry-After).
// Each reconcile gets a context: a logger carrying the controller, the key's fields and a reconcile ID, the
// clock, a write counter and the controller's lifetime signal. The runtime registers the controller's queue
// and reconcile metrics and the health of the informers it depends on (/metrics, /readyz).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { TerminalError, isTransient } from '../k8s/errors.ts';
import type { InformerHealth } from '../k8s/informer.ts';
import type { ControllerMetrics, ReconcileResult } from '../observability/metrics.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import { Workqueue } from './workqueue.ts';

/** Mutating requests made by one reconcile (for logs, the onReconcile hook and tests). */
export class WriteCounter {
  private n = 0;

  get count(): number {
    return this.n;
  }

  add(n = 1): void {
    this.n += n;
  }
}

export interface ReconcileContext {
  readonly log: Logger;
  readonly clock: Clock;
  readonly writes: WriteCounter;
  /** Aborted when the controller stops. */
  readonly signal: AbortSignal;
}

/** What a reconcile may ask of the runtime; nothing means "converged, wait for the next event". */
/**
 * `requeueAfterMs`: look again then. `resync`: that re-check is the periodic resync, not a wait for
 * something: it is spread by up to 10% (so keys reconciled together do not all come due together) and
 * queued behind real changes.
 */
export type ReconcileOutcome = { requeueAfterMs?: number; resync?: boolean } | undefined;

/** The resync spread: up to this fraction of the period later. */
export const RESYNC_JITTER = 0.1;

export interface Reconciler {
  reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileOutcome>;
  /** Log fields that name the key's object (default: `{ key }`). */
  logFields?(key: string): Record<string, unknown>;
  /** Called on a failed reconcile, after the requeue decision (e.g. to re-check an API that vanished). */
  failed?(key: string, err: unknown): void;
}

export interface ControllerOptions {
  /** The `controller` label of metrics and logs. */
  name: string;
  reconciler: Reconciler;
  log: Logger;
  clock?: Clock;
  workers?: number;
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  metrics?: ControllerMetrics;
  /** The informers this controller's reconciles read; they count for /readyz and apisec_informer_healthy. */
  health?: () => InformerHealth[];
  onReconcile?: (outcome: ReconcileResult, seconds: number, writes: number) => void;
  /** A number in [0, 1) for the resync spread (tests pass a fixed one). */
  random?: () => number;
}

/** A retry no sooner than the server asked (429/503 Retry-After). */
const retryAfterMs = (err: unknown): number => {
  const s = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return typeof s === 'number' && s > 0 ? s * 1000 : 0;
};

export class Controller {
  readonly name: string;
  readonly queue: Workqueue;
  private readonly opts: ControllerOptions;
  private readonly clock: Clock;
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];
  private readonly random: () => number;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.random = opts.random ?? Math.random;
    this.name = opts.name;
    this.clock = opts.clock ?? systemClock;
    this.queue = new Workqueue({ ...opts.backoff, clock: this.clock, ...(opts.metrics ? { metrics: opts.metrics.queue } : {}) });
    opts.metrics?.observe(this);
  }

  get started(): boolean {
    return this.workers.length > 0;
  }

  /** Nothing waiting and nothing in flight (timers for later re-checks aside). */
  get idle(): boolean {
    return this.queue.depth === 0 && this.queue.inFlight === 0;
  }

  health(): InformerHealth[] {
    return this.opts.health?.() ?? [];
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Starts the workers (once). */
  start(): void {
    if (this.started) return;
    const n = Math.max(1, this.opts.workers ?? 1);
    for (let i = 0; i < n; i++) this.workers.push(this.queue.run((key) => this.handle(key)));
  }

  /** Stops taking work and waits for in-flight reconciles. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.queue.shutDown();
    await Promise.all(this.workers);
  }

  private async handle(key: string): Promise<void> {
    const { reconciler } = this.opts;
    const log = this.opts.log.child({ controller: this.name, ...(reconciler.logFields?.(key) ?? { key }), reconcileID: randomUUID() });
    const ctx: ReconcileContext = { log, clock: this.clock, writes: new WriteCounter(), signal: this.abort.signal };
    const started = performance.now();
    let result: ReconcileResult = 'success';
    try {
      const outcome = await reconciler.reconcile(key, ctx);
      this.queue.forget(key);
      if (outcome?.requeueAfterMs !== undefined) {
        const ms = outcome.resync ? outcome.requeueAfterMs * (1 + RESYNC_JITTER * this.random()) : outcome.requeueAfterMs;
        this.queue.addAfter(key, Math.round(ms), { low: outcome.resync === true });
      }
      if (ctx.writes.count > 0) log.debug({ writes: ctx.writes.count, seconds: (performance.now() - started) / 1000 }, 'Reconciled');
    } catch (err) {
      result = this.failed(key, err, log);
      reconciler.failed?.(key, err);
    } finally {
      const seconds = (performance.now() - started) / 1000;
      this.opts.metrics?.reconciled(result, seconds);
      this.opts.onReconcile?.(result, seconds, ctx.writes.count);
      this.queue.done(key);
    }
  }

  private failed(key: string, err: unknown, log: Logger): ReconcileResult {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof TerminalError) {
      // Retrying cannot help: the next change of the object (an event) adds the key again.
      this.queue.forget(key);
      this.opts.metrics?.terminal();
      log.warn({ reason: err.reason, err: message }, 'Reconcile failed permanently: waiting for a change');
      return 'error';
    }
    const delay = this.queue.addRateLimited(key, retryAfterMs(err));
    const transient = isTransient(err);
    log.warn({ err: message, transient, retryInMs: delay, retries: this.queue.numRequeues(key) }, 'Reconcile failed');
    return transient ? 'requeue' : 'error';
  }
}
