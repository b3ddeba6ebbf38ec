// What the operator publishes besides policy status, on the policy controller's caches: a PolicyReport per
// namespace (report.ts) and the cluster-wide API inventory (inventory.ts: metrics, UncoveredAPI Events).
// Two controllers on the runtime, each with its own queue; informer handlers only enqueue: a change in a
// namespace folds into one report write and one inventory pass per short window.
import type { Logger } from 'pino';
import type { KubeClient } from '../k8s/client.ts';
import type { Handler, InformerHealth } from '../k8s/informer.ts';
import { Resources, type KubeObject, type ResourceType } from '../k8s/resources.ts';
import type { ControllerMetrics, ReconcileResult } from '../observability/metrics.ts';
import type { RecordEvent } from './deps.ts';
import { INVENTORY_KEY, InventoryReconciler } from './inventory.ts';
import { PolicyReportApi, ReportReconciler, type ReportWrites, type ReportsState } from './report.ts';
import { Controller } from './runtime.ts';

export type { ReportsState };

/** The PolicyReport resource (wg-policy v1alpha2, as Kyverno and Policy Reporter serve and read it). */
export const POLICY_REPORT: ResourceType = Resources.policyReport;

/** A cache the policy controller already keeps (src/k8s/informer.ts Informer fits). */
export interface Source<T extends KubeObject = KubeObject> {
  get(key: string): T | undefined;
  list(namespace?: string): T[];
  on(handler: Handler<T>): void;
}

/** The writes the reports controllers make; src/k8s/apply.ts Writer implements them. */
export interface ReportActions extends ReportWrites {
  recordEvent: RecordEvent;
}

export interface ReportsOptions {
  client: KubeClient;
  actions: ReportActions;
  log: Logger;
  /** httpRoutes: the Gateway API's routes (an informer that runs once the API is served). */
  sources: { policies: Source; ingresses: Source; services: Source; httpRoutes?: Source };
  /** The baseline (ClusterApiSecurityPolicy) that selects a namespace, if any. */
  baselineFor?: (namespace: string) => string | undefined;
  /** Limit to one namespace (undefined: all namespaces), as the policy controller. */
  namespace?: string;
  /** The report resource; tests point it at a group that is not installed. */
  resource?: ResourceType;
  maxResults?: number;
  /** Warning Event UncoveredAPI on an Ingress when it becomes uncovered (default true). */
  events?: boolean;
  /** How often to look for the PolicyReport API again while it is not served (default 5 min; 0: never). */
  rediscoverMs?: number;
  /** Changes within this window are folded into one inventory pass (default 1 s). */
  inventoryDelayMs?: number;
  /** Changes in a namespace within this window are folded into one report write (default 1 s). */
  reportDelayMs?: number;
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  /** Registers a controller's metrics by name (OperatorMetrics.controller). */
  metrics?: (name: string) => ControllerMetrics;
  onReconcile?: (outcome: ReconcileResult, seconds: number, writes: number) => void;
}

/** The longest the inventory waits after a change, however long its passes take. */
const INVENTORY_MAX_WINDOW_MS = 30_000;

export class ReportsController {
  readonly reports: Controller;
  readonly inventory: Controller;
  private readonly inventoryReconciler: InventoryReconciler;
  private readonly api: PolicyReportApi;
  private readonly opts: ReportsOptions;
  private discovering?: Promise<void>;
  private started = false;
  private stopped = false;

  constructor(opts: ReportsOptions) {
    this.opts = opts;
    const resource = opts.resource ?? POLICY_REPORT;
    const log = opts.log.child({ controller: 'policyreport' });
    this.api = new PolicyReportApi({
      client: opts.client,
      resource,
      log,
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      ...(opts.rediscoverMs !== undefined ? { rediscoverMs: opts.rediscoverMs } : {}),
      onEnabled: () => {
        for (const ns of this.namespaces()) this.reports.enqueue(ns);
      },
      onReportChanged: (ns) => this.reports.enqueue(ns),
    });
    const common = { log: opts.log, ...(opts.backoff ? { backoff: opts.backoff } : {}), ...(opts.onReconcile ? { onReconcile: opts.onReconcile } : {}) };
    const baselineFor = opts.baselineFor ? { baselineFor: opts.baselineFor } : {};
    this.reports = new Controller({
      ...common,
      name: 'policyreport',
      reconciler: new ReportReconciler({ api: this.api, resource, actions: opts.actions, sources: opts.sources, ...baselineFor, ...(opts.maxResults ? { maxResults: opts.maxResults } : {}) }),
      health: () => this.api.health(),
      ...(opts.metrics ? { metrics: opts.metrics('policyreport') } : {}),
    });
    this.inventoryReconciler = new InventoryReconciler({
      sources: opts.sources,
      recordEvent: (regarding, event) => opts.actions.recordEvent(regarding, event), // a method of the Writer: keep its `this`
      ...baselineFor,
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      ...(opts.events !== undefined ? { events: opts.events } : {}),
      nextPassMs: opts.inventoryDelayMs ?? 1000,
    });
    this.inventory = new Controller({ ...common, name: 'inventory', reconciler: this.inventoryReconciler, ...(opts.metrics ? { metrics: opts.metrics('inventory') } : {}) });
    const touch = (o: KubeObject): void => this.touch(o.metadata.namespace);
    opts.sources.policies.on(touch);
    opts.sources.ingresses.on(touch);
    opts.sources.services.on(touch);
    opts.sources.httpRoutes?.on(touch);
  }

  get state(): ReportsState {
    return this.api.state;
  }

  /** Resolves with the outcome of the first discovery: enabled (report cache synced) or disabled. */
  get settled(): Promise<ReportsState> {
    return this.api.settled;
  }

  /** Nothing waiting, in flight or scheduled in either queue. */
  get quiet(): boolean {
    return [this.reports.queue, this.inventory.queue].every((q) => q.depth === 0 && q.inFlight === 0 && q.scheduled === 0);
  }

  /** Starts the workers and discovery; call on the leader after the policy controller's caches synced. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.inventory.enqueue(INVENTORY_KEY);
    this.reports.start();
    this.inventory.start();
    this.discovering = this.api.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.reports.stop(), this.inventory.stop()]);
    await this.api.stop();
    await this.discovering;
  }

  /** Re-checks every namespace and the inventory, e.g. when baselines change. */
  resyncAll(): void {
    for (const ns of this.namespaces()) this.touch(ns);
    this.touch(undefined); // the inventory, also when no namespace has anything
  }

  /** Re-checks one namespace, e.g. when its labels (and so the baselines selecting it) change. */
  enqueueNamespace(namespace: string): void {
    this.touch(namespace);
  }

  health(): InformerHealth[] {
    return this.reports.health();
  }

  uncoveredSamples(): ReturnType<InventoryReconciler['uncoveredSamples']> {
    return this.inventoryReconciler.uncoveredSamples();
  }

  coverageSamples(): ReturnType<InventoryReconciler['coverageSamples']> {
    return this.inventoryReconciler.coverageSamples();
  }

  /**
   * A change in a namespace: its report and the inventory are recomputed after a short window, so a burst
   * (a rollout of many policies, each status written in turn) costs one report write per window, not one
   * per change. The inventory's window is also at least 10× its last pass (at most 30 s), so a cluster
   * large enough that a pass takes 200 ms spends at most a tenth of the event loop on it.
   */
  private touch(namespace: string | undefined): void {
    if (!this.started || this.stopped) return;
    if (namespace && this.api.state === 'enabled') this.reports.enqueueAfter(namespace, this.opts.reportDelayMs ?? 1000);
    const window = Math.max(this.opts.inventoryDelayMs ?? 1000, Math.min(INVENTORY_MAX_WINDOW_MS, 10 * this.inventoryReconciler.lastPassMs));
    this.inventory.enqueueAfter(INVENTORY_KEY, window);
  }

  private namespaces(): Set<string> {
    const { policies, ingresses, services } = this.opts.sources;
    const all = new Set<string>(this.api.namespaces());
    for (const o of [...policies.list(), ...ingresses.list(), ...services.list()]) if (o.metadata.namespace) all.add(o.metadata.namespace);
    return all;
  }
}
