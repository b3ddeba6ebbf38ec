// The operator's Prometheus metrics, on prom-client. Every metric lives on a per-operator Registry, never
// on prom-client's global one, so several operators in one process (tests) do not collide. Label names
// are fixed when a metric is created and every label value comes from a bounded set. Each controller
// registers itself (`controller(name)`): its queue and reconcile series exist, at zero, from the start.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InformerHealth } from '../k8s/informer.ts';

export { Counter, Gauge, Histogram, Registry };

export type ReconcileResult = 'success' | 'error' | 'requeue';
const RESULTS: readonly ReconcileResult[] = ['success', 'error', 'requeue'];

/** Prometheus client defaults: 5 ms to 10 s, suited to request and reconcile latencies. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface Sample<L extends string> {
  labels: Readonly<Record<L, string>>;
  value: number;
}

/** A gauge whose series are read at scrape time: each scrape replaces what the last one saw. */
export function collectedGauge<L extends string>(registry: Registry, opts: { name: string; help: string; labelNames: readonly L[]; samples: () => readonly Sample<L>[] }): Gauge<L> {
  return new Gauge<L>({
    name: opts.name,
    help: opts.help,
    labelNames: opts.labelNames,
    registers: [registry],
    collect(this: Gauge<L>) {
      this.reset();
      for (const s of opts.samples()) this.set(s.labels as Record<L, string>, s.value);
    },
  });
}

/** The workqueue's metrics collaborator (src/controller/workqueue.ts calls it), as client-go's. */
export interface QueueMetrics {
  added(): void;
  retried(): void;
}

/** What a registered controller shows at scrape time: its queue depth and the informers it owns. */
export interface ObservedController {
  readonly queue: { readonly depth: number; readonly oldestWaitingMs?: number };
  health(): InformerHealth[];
}

/** One controller's metrics: handed to its queue and worker, then `observe(controller)`. */
export interface ControllerMetrics {
  readonly name: string;
  readonly queue: QueueMetrics;
  reconciled(result: ReconcileResult, seconds: number): void;
  /** A reconcile failed with a TerminalError (not retried until the object changes). */
  terminal(): void;
  observe(controller: ObservedController): void;
}

export interface OperatorMetrics {
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileTerminalErrors: Counter<'controller'>;
  reconcileDuration: Histogram<'controller'>;
  queueDepth: Gauge<'name'>;
  queueOldest: Gauge<'name'>;
  queueAdds: Counter<'name'>;
  queueRetries: Counter<'name'>;
  apiRequests: Counter<'verb' | 'resource' | 'code'>;
  informerHealthy: Gauge<'resource'>;
  informerRestarts: Counter<'resource'>;
  informerRelists: Counter<'resource' | 'cause'>;
  isLeader: Gauge;
  leaderTransitions: Counter<'event'>;
  writesTotal: Counter<'kind' | 'operation'>;
  driftTotal: Counter<'kind' | 'outcome'>;
  /** Registers a controller by name (the `controller` and queue `name` label); once per name. */
  controller(name: string): ControllerMetrics;
}

/** The operator's metrics, registered on registry. */
/** A gauge per registered controller's queue, read at scrape time. */
function queueGauge(observed: ReadonlyMap<string, ObservedController>, registers: Registry[], { name, help }: { name: string; help: string }, value: (q: ObservedController['queue']) => number): Gauge<'name'> {
  return new Gauge({
    name,
    help,
    labelNames: ['name'],
    registers,
    collect(this: Gauge<'name'>) {
      for (const [n, c] of observed) this.set({ name: n }, value(c.queue));
    },
  });
}

/** The informers' health, restarts and relists, read at scrape time. */
function informerMetrics(informers: () => InformerHealth[], registers: Registry[]): Pick<OperatorMetrics, 'informerHealthy' | 'informerRestarts' | 'informerRelists'> {
  return {
    informerHealthy: new Gauge({
      name: 'apisec_informer_healthy',
      help: 'Whether the informer is synced and watching (1) or not (0).',
      labelNames: ['resource'],
      registers,
      collect(this: Gauge<'resource'>) {
        this.reset(); // an informer that stopped (e.g. PolicyReports disabled) leaves no series behind
        for (const h of informers()) this.set({ resource: h.resource }, h.synced && h.healthy ? 1 : 0);
      },
    }),
    informerRestarts: new Counter({
      name: 'apisec_informer_restarts_total',
      help: 'Times the informer restarted after an error since the process started.',
      labelNames: ['resource'],
      registers,
      collect(this: Counter<'resource'>) {
        this.reset();
        for (const h of informers()) this.inc({ resource: h.resource }, h.restarts);
      },
    }),
    informerRelists: new Counter({
      name: 'apisec_informer_relists_total',
      help: 'Lists after the first, by resource and cause: error (a failed list or watch) or expired (a resumed watch answered 410 Gone).',
      labelNames: ['resource', 'cause'],
      registers,
      collect(this: Counter<'resource' | 'cause'>) {
        this.reset();
        for (const h of informers()) {
          this.inc({ resource: h.resource, cause: 'expired' }, h.expired);
          this.inc({ resource: h.resource, cause: 'error' }, Math.max(0, h.relists - h.expired));
        }
      },
    }),
  };
}

export function operatorMetrics(registry: Registry): OperatorMetrics {
  const registers = [registry];
  const observed = new Map<string, ObservedController>();
  const informers = (): InformerHealth[] => [...observed.values()].flatMap((c) => c.health());

  const m: Omit<OperatorMetrics, 'controller'> = {
    reconcileTotal: new Counter({ name: 'apisec_reconcile_total', help: 'Reconciliations by controller and result (success, error, requeue).', labelNames: ['controller', 'result'], registers }),
    reconcileErrors: new Counter({ name: 'apisec_reconcile_errors_total', help: 'Reconciliations that failed, by controller.', labelNames: ['controller'], registers }),
    reconcileTerminalErrors: new Counter({
      name: 'apisec_reconcile_terminal_errors_total',
      help: 'Reconciliations that failed in a way retrying cannot fix (waiting for the object to change), by controller.',
      labelNames: ['controller'],
      registers,
    }),
    reconcileDuration: new Histogram({ name: 'apisec_reconcile_duration_seconds', help: 'Time spent in one reconciliation.', labelNames: ['controller'], buckets: [...DEFAULT_BUCKETS], registers }),
    queueDepth: queueGauge(observed, registers, { name: 'apisec_workqueue_depth', help: 'Keys waiting in the work queue.' }, (q) => q.depth),
    queueOldest: queueGauge(
      observed,
      registers,
      { name: 'apisec_workqueue_oldest_waiting_seconds', help: 'How long the key that has waited longest in the work queue has waited (0: none waits).' },
      (q) => (q.oldestWaitingMs ?? 0) / 1000,
    ),
    queueAdds: new Counter({ name: 'apisec_workqueue_adds_total', help: 'Keys added to the work queue.', labelNames: ['name'], registers }),
    queueRetries: new Counter({ name: 'apisec_workqueue_retries_total', help: 'Keys requeued with backoff after a failure.', labelNames: ['name'], registers }),
    apiRequests: new Counter({ name: 'apisec_api_requests_total', help: 'Requests to the Kubernetes API by verb, resource and status code (0: network error).', labelNames: ['verb', 'resource', 'code'], registers }),
    ...informerMetrics(informers, registers),
    isLeader: new Gauge({ name: 'apisec_leader', help: 'Whether this replica holds the leader lease (1) or not (0).', registers }),
    leaderTransitions: new Counter({ name: 'apisec_leader_transitions_total', help: 'Leader lease acquired or lost by this replica.', labelNames: ['event'], registers }),
    writesTotal: new Counter({ name: 'apisec_writes_total', help: "The operator's own mutating API requests, by kind and operation.", labelNames: ['kind', 'operation'], registers }),
    driftTotal: new Counter({
      name: 'apisec_drift_total',
      help: 'Operator-owned fields changed by someone else, by kind and whether they were repaired or repairs paused (a fight).',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
  };

  const controller = (name: string): ControllerMetrics => {
    if (observed.has(name)) throw new Error(`controller ${name} is already registered`);
    // Zero from the start, as controller-runtime does: a rate() over a series that appears late misses its first increase.
    for (const result of RESULTS) m.reconcileTotal.inc({ controller: name, result }, 0);
    m.reconcileErrors.inc({ controller: name }, 0);
    m.reconcileTerminalErrors.inc({ controller: name }, 0);
    m.reconcileDuration.zero({ controller: name });
    m.queueAdds.inc({ name }, 0);
    m.queueRetries.inc({ name }, 0);
    observed.set(name, { queue: { depth: 0 }, health: () => [] });
    return {
      name,
      queue: { added: () => m.queueAdds.inc({ name }), retried: () => m.queueRetries.inc({ name }) },
      reconciled: (result, seconds) => {
        m.reconcileTotal.inc({ controller: name, result });
        if (result !== 'success') m.reconcileErrors.inc({ controller: name });
        m.reconcileDuration.observe({ controller: name }, seconds);
      },
      terminal: () => m.reconcileTerminalErrors.inc({ controller: name }),
      observe: (c) => void observed.set(name, c),
    };
  };
  return { ...m, controller };
}

/** The API inventory of the reports controller, read at scrape time. */
export function inventoryMetrics(
  registry: Registry,
  source: { uncoveredSamples(): Sample<'namespace' | 'kind'>[]; coverageSamples(): Sample<'coverage'>[] },
): void {
  collectedGauge(registry, {
    name: 'apisec_uncovered_apis',
    help: 'Exposed APIs (Ingresses, LoadBalancer and NodePort Services) that no ApiSecurityPolicy covers, by namespace and kind.',
    labelNames: ['namespace', 'kind'],
    samples: () => source.uncoveredSamples(),
  });
  collectedGauge(registry, { name: 'apisec_apis', help: 'Exposed APIs by what covers them: a policy, a baseline, or none.', labelNames: ['coverage'], samples: () => source.coverageSamples() });
}

/**
 * prom-client's process and Node.js runtime metrics (CPU, RSS, open fds, heap, event-loop lag, GC):
 * client-node has leaked fds and memory before, and these show it first.
 */
export function runtimeMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
}

/** Outcomes of the sidecar injection webhook (src/webhook/review.ts). */
export const ADMISSION_RESULTS = ['injected', 'skipped', 'refused', 'not-ready'] as const;

/** The webhook's admissions by result, every result zero from the start; only where the webhook is served. */
export function webhookMetrics(registry: Registry): Counter<'result'> {
  const admissions = new Counter({
    name: 'apisec_sidecar_admissions_total',
    help: 'Pods the sidecar injection webhook answered: injected, skipped (not for this pod), refused (admitted without: the sidecar would break it) or not-ready (caches not synced).',
    labelNames: ['result'],
    registers: [registry],
  });
  for (const result of ADMISSION_RESULTS) admissions.inc({ result }, 0);
  return admissions;
}
