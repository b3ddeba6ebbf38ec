// The reports controller: publishes what the operator knows as a wgpolicyk8s.io/v1alpha2 PolicyReport per
// namespace (each policy's control results, and a fail per API nothing covers), the API inventory as
// metrics, and a Warning Event when an Ingress becomes uncovered. Level-triggered like the policy
// controller: informer handlers only enqueue keys — the namespace, and INVENTORY_KEY for the cluster-wide
// inventory — and a reconcile recomputes everything from the caches. A report is written (server-side
// apply) only when it differs from the cached one, so a converged cluster costs no request at all.
// The PolicyReport CRD is optional: without it (discovery 404) the controller runs without reports, says
// so once, and looks again every `rediscoverMs`.
import type { Logger } from 'pino';
import type { ApiSecurityPolicyStatus } from '../api/v1alpha1.ts';
import { claimedRefs } from '../compliance/assess.ts';
import { apiInventory, uncoveredOf, type ApiEntry, type Coverage } from '../compliance/inventory.ts';
import { protectedByMarker } from '../compliance/protect.ts';
import { FIELD_MANAGER, type KubeClient } from '../k8s/client.ts';
import { isServed } from '../k8s/discovery.ts';
import { isNotFound, isTransient } from '../k8s/errors.ts';
import { Informer, type Handler, type InformerHealth } from '../k8s/informer.ts';
import { Resources, type KubeObject, type ResourceType } from '../k8s/resources.ts';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../render/labels.ts';
import type { RecordEvent } from './reconciler.ts';
import { ANNOTATION_OMITTED, REPORT_NAME, renderPolicyReport, type ReportApi, type ReportPolicy, type ReportTarget } from '../render/policy-report.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import { PendingWrites } from './pending.ts';
import { canonical } from './state.ts';
import type { ControllerMetrics } from '../observability/metrics.ts';
import { Workqueue } from './workqueue.ts';
import { sleep } from '../util/sleep.ts';

/** The PolicyReport resource (wg-policy v1alpha2, as Kyverno and Policy Reporter serve and read it). */
export const POLICY_REPORT: ResourceType = Resources.policyReport;

/** The queue key of the cluster-wide inventory (metrics, Events); never a namespace name. */
export const INVENTORY_KEY = '@inventory';

/** A cache the policy controller already keeps (src/k8s/informer.ts Informer fits). */
export interface Source<T extends KubeObject = KubeObject> {
  get(key: string): T | undefined;
  list(namespace?: string): T[];
  on(handler: Handler<T>): void;
}

/** The writes the reports controller makes; src/k8s/apply.ts Writer implements them. */
export interface ReportActions {
  applyOwned(r: ResourceType, obj: KubeObject): Promise<unknown>;
  delete(r: ResourceType, namespace: string, name: string, uid?: string): Promise<void>;
  recordEvent: RecordEvent;
}

export interface ReportsOptions {
  client: KubeClient;
  actions: ReportActions;
  log: Logger;
  sources: { policies: Source; ingresses: Source; services: Source };
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
  /** Its queue and reconcile metrics (OperatorMetrics.controller); it registers its informers' health there too. */
  metrics?: ControllerMetrics;
  onReconcile?: (outcome: 'success' | 'error' | 'requeue', seconds: number, writes: number) => void;
}

export type ReportsState = 'discovering' | 'enabled' | 'disabled';

/** At most this many Events per inventory pass; the rest follow in the next passes, one window apart. */
const EVENTS_PER_PASS = 20;
const COVERAGES: readonly Coverage[] = ['policy', 'baseline', 'none'];

interface Snapshot {
  uncovered: Map<string, { namespace: string; kind: string; value: number }>;
  coverage: Record<Coverage, number>;
}

type PolicyObject = KubeObject & { status?: ApiSecurityPolicyStatus };

/** The fields the operator sets on a report, read the same way from the desired and the cached object. */
const managedView = (o: KubeObject): unknown => ({
  managedBy: o.metadata.labels?.[LABEL_MANAGED_BY],
  omitted: o.metadata.annotations?.[ANNOTATION_OMITTED],
  summary: o.summary,
  results: o.results,
});

export class ReportsController {
  readonly queue: Workqueue;
  private readonly opts: ReportsOptions;
  private readonly resource: ResourceType;
  private readonly log: Logger;
  private readonly pending = new PendingWrites();
  private readonly abort = new AbortController();
  /** Ingresses ("ns/name/uid") announced as uncovered; pruned to the current uncovered set each pass. */
  private readonly announced = new Set<string>();
  private informer?: Informer;
  private workers: Promise<void>[] = [];
  private discovering?: Promise<void>;
  private started = false;
  private stopped = false;
  private rechecking = false;
  private current: ReportsState = 'discovering';
  private snapshot: Snapshot = { uncovered: new Map(), coverage: { policy: 0, baseline: 0, none: 0 } };
  private settle!: (s: ReportsState) => void;
  /** Resolves with the outcome of the first discovery: enabled (report cache synced) or disabled. */
  readonly settled: Promise<ReportsState>;

  constructor(opts: ReportsOptions) {
    this.opts = opts;
    this.resource = opts.resource ?? POLICY_REPORT;
    this.log = opts.log.child({ controller: 'policyreport' });
    this.queue = new Workqueue({ ...opts.backoff, ...(opts.metrics ? { metrics: opts.metrics.queue } : {}) });
    opts.metrics?.observe(this);
    this.settled = new Promise((resolve) => (this.settle = resolve));
    const touch = (o: KubeObject): void => this.touch(o.metadata.namespace);
    opts.sources.policies.on(touch);
    opts.sources.ingresses.on(touch);
    opts.sources.services.on(touch);
  }

  get state(): ReportsState {
    return this.current;
  }

  /** Starts the workers and discovery; call on the leader after the policy controller's caches synced. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.queue.add(INVENTORY_KEY);
    this.workers.push(this.queue.run((key) => this.process(key)));
    this.discovering = this.discover();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.queue.shutDown();
    await Promise.all(this.workers);
    await this.discovering;
    await this.informer?.stop();
    this.settle('disabled');
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
    return this.informer ? [this.informer.health()] : [];
  }

  /** apisec_uncovered_apis{namespace,kind}, from the last inventory pass. */
  uncoveredSamples(): { labels: { namespace: string; kind: string }; value: number }[] {
    return [...this.snapshot.uncovered.values()].map(({ namespace, kind, value }) => ({ labels: { namespace, kind }, value }));
  }

  /** apisec_apis{coverage}, from the last inventory pass (every coverage value, zero included). */
  coverageSamples(): { labels: { coverage: string }; value: number }[] {
    return COVERAGES.map((coverage) => ({ labels: { coverage }, value: this.snapshot.coverage[coverage] }));
  }

  // ---- keys ----

  /**
   * A change in a namespace: its report and the inventory are recomputed after a short window, so a burst
   * (a rollout of many policies, each status written in turn) costs one report write per window, not one
   * per change.
   */
  private touch(namespace: string | undefined): void {
    if (!this.started || this.stopped) return;
    if (namespace && this.current === 'enabled') this.queue.addAfter(namespace, this.opts.reportDelayMs ?? 1000);
    this.queue.addAfter(INVENTORY_KEY, this.opts.inventoryDelayMs ?? 1000);
  }

  private namespaces(): Set<string> {
    const { policies, ingresses, services } = this.opts.sources;
    const all = new Set<string>();
    for (const o of [...policies.list(), ...ingresses.list(), ...services.list(), ...(this.informer?.list() ?? [])]) if (o.metadata.namespace) all.add(o.metadata.namespace);
    return all;
  }

  // ---- discovery ----

  /**
   * Looks for the PolicyReport API at start and then every `rediscoverMs`: reports are enabled when it is
   * served and disabled (said once per change) when it is not. An error that says neither keeps the
   * current state and is retried with backoff up to a minute.
   */
  private async discover(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let served: boolean;
      try {
        served = await isServed(this.opts.client, this.resource, this.abort.signal);
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        failures++;
        const delay = Math.min(60_000, 1000 * 2 ** Math.min(failures - 1, 6));
        if (failures === 1 || failures % 10 === 0) this.log.warn({ resource: this.what, err: (err as Error).message, retryInMs: delay }, 'Cannot tell whether the PolicyReport API is served; retrying');
        if (this.current === 'discovering') this.setState('disabled');
        await sleep(delay, this.abort.signal, { unref: true });
        continue;
      }
      if (served && this.current !== 'enabled') await this.enable();
      if (!served && this.current !== 'disabled') await this.disable();
      const every = this.opts.rediscoverMs ?? 5 * 60_000;
      if (every <= 0) return;
      await sleep(every, this.abort.signal, { unref: true });
    }
  }

  private get what(): string {
    return `${this.resource.plural}.${this.resource.group}/${this.resource.version}`;
  }

  private async enable(): Promise<void> {
    const informer = new Informer(this.opts.client, this.resource, this.log.child({ informer: this.resource.plural }), {
      labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
      pageSize: 100,
      ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
    });
    // Someone else changed or deleted a report: repair it at once (our own writes only cause a comparison).
    informer.on((o) => {
      if (o.metadata.name === REPORT_NAME && o.metadata.namespace && this.current === 'enabled') this.queue.add(o.metadata.namespace);
    });
    this.informer = informer;
    informer.start();
    if (!(await informer.waitForSync(this.abort.signal)) || this.stopped) return;
    this.setState('enabled');
    this.log.info({ resource: this.what }, 'Publishing PolicyReports');
    for (const ns of this.namespaces()) this.queue.add(ns);
  }

  private async disable(): Promise<void> {
    this.log.warn({ resource: this.what }, 'The PolicyReport API is not served (CRD not installed): running without PolicyReports; metrics and Events still work');
    this.setState('disabled');
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop();
  }

  /** After a 404 from the report API: if the API is gone, stop reporting now (discovery enables it again). */
  private async recheck(): Promise<void> {
    if (this.current !== 'enabled' || this.rechecking) return;
    this.rechecking = true;
    try {
      const served = await isServed(this.opts.client, this.resource, this.abort.signal).catch(() => true);
      if (!served && this.current === 'enabled' && !this.stopped) await this.disable();
    } finally {
      this.rechecking = false;
    }
  }

  private setState(s: ReportsState): void {
    this.current = s;
    if (s !== 'discovering') this.settle(s);
  }

  // ---- work ----

  private reconciled(result: 'success' | 'error' | 'requeue', seconds: number, writes: number): void {
    this.opts.metrics?.reconciled(result, seconds);
    this.opts.onReconcile?.(result, seconds, writes);
  }

  private async process(key: string): Promise<void> {
    const started = performance.now();
    const log = this.log.child(key === INVENTORY_KEY ? { key } : { namespace: key });
    try {
      const writes = key === INVENTORY_KEY ? await this.reconcileInventory(log) : await this.reconcileNamespace(key, log);
      this.queue.forget(key);
      this.reconciled('success', (performance.now() - started) / 1000, writes);
    } catch (err) {
      const delay = this.queue.addRateLimited(key);
      log.warn({ err: (err as Error).message, transient: isTransient(err), retryInMs: delay }, 'Reconcile failed');
      this.reconciled(isTransient(err) ? 'requeue' : 'error', (performance.now() - started) / 1000, 0);
      if (isNotFound(err) && key !== INVENTORY_KEY) void this.recheck();
    } finally {
      this.queue.done(key);
    }
  }

  /** Writes the namespace's report when it differs from the cached one; deletes it when there is nothing to report. */
  private async reconcileNamespace(namespace: string, log: Logger): Promise<number> {
    const informer = this.informer;
    if (this.current !== 'enabled' || !informer) return 0;
    const key = `${namespace}/${REPORT_NAME}`;
    const cached = informer.get(key);
    if (this.pending.behind(key, cached)) {
      // The cache has not seen our last write yet; its watch event requeues the namespace (this is a safety net).
      this.queue.addAfter(namespace, 2000);
      return 0;
    }
    const desired = this.desiredReport(namespace);
    if (!desired) {
      if (!cached) return 0;
      await this.opts.actions.delete(this.resource, namespace, REPORT_NAME, cached.metadata.uid);
      this.pending.wrote(key, cached.metadata.resourceVersion, undefined);
      log.info('Deleted PolicyReport: nothing left to report');
      return 1;
    }
    if (cached && canonical(managedView(cached)) === canonical(managedView(desired))) return 0;
    const after = (await this.opts.actions.applyOwned(this.resource, desired)) as KubeObject | undefined;
    const rv = after?.metadata?.resourceVersion;
    if (rv !== cached?.metadata.resourceVersion) this.pending.wrote(key, cached?.metadata.resourceVersion, rv);
    log.info({ results: (desired.results as unknown[]).length, summary: desired.summary }, cached ? 'Updated PolicyReport' : 'Created PolicyReport');
    return 1;
  }

  private inventory(namespace?: string): ApiEntry[] {
    const { policies, ingresses, services } = this.opts.sources;
    return apiInventory({
      policies: policies.list(namespace),
      ingresses: ingresses.list(namespace) as IngressLike[],
      services: services.list(namespace) as ServiceLike[],
      ...(this.opts.baselineFor ? { baselineFor: this.opts.baselineFor } : {}),
      protectedBy: (ing) => protectedByMarker(ing as KubeObject, FIELD_MANAGER),
    });
  }

  private desiredReport(namespace: string): KubeObject | undefined {
    const { ingresses, services } = this.opts.sources;
    const uidOf = (kind: string, name: string): string | undefined => (kind === 'Ingress' ? ingresses : services).get(`${namespace}/${name}`)?.metadata.uid;
    const policies: ReportPolicy[] = (this.opts.sources.policies.list(namespace) as PolicyObject[])
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => {
        const seen = new Set<string>();
        const targets: ReportTarget[] = [];
        for (const r of claimedRefs(p.spec)) {
          if ((r.kind !== 'Ingress' && r.kind !== 'Service') || typeof r.name !== 'string' || seen.has(`${r.kind}/${r.name}`)) continue;
          seen.add(`${r.kind}/${r.name}`);
          const uid = uidOf(r.kind, r.name);
          targets.push({ kind: r.kind, name: r.name, ...(uid ? { uid } : {}) });
        }
        const accepted = p.status?.conditions?.find((c) => c.type === 'Accepted');
        return {
          name: p.metadata.name,
          targets,
          ...(p.status?.controls ? { controls: p.status.controls } : {}),
          ...(accepted ? { accepted: { status: accepted.status, reason: accepted.reason, message: accepted.message } } : {}),
        };
      });
    const uncovered: ReportApi[] = uncoveredOf(this.inventory(namespace)).map((e) => {
      const uid = uidOf(e.kind, e.name);
      return { kind: e.kind, name: e.name, ...(e.hosts ? { hosts: e.hosts } : {}), ...(e.paths ? { paths: e.paths } : {}), ...(e.serviceType ? { serviceType: e.serviceType } : {}), ...(uid ? { uid } : {}) };
    });
    const report = renderPolicyReport({ namespace, policies, uncovered, ...(this.opts.maxResults ? { maxResults: this.opts.maxResults } : {}) });
    return report as unknown as KubeObject | undefined;
  }

  /** The cluster-wide inventory: metrics, and an Event for each Ingress that became uncovered. */
  private async reconcileInventory(log: Logger): Promise<number> {
    const all = this.inventory(this.opts.namespace);
    const snapshot: Snapshot = { uncovered: new Map(), coverage: { policy: 0, baseline: 0, none: 0 } };
    for (const e of all) {
      snapshot.coverage[e.coverage]++;
      if (e.coverage !== 'none') continue;
      const k = `${e.namespace}\u0000${e.kind}`;
      const s = snapshot.uncovered.get(k) ?? { namespace: e.namespace, kind: e.kind, value: 0 };
      s.value++;
      snapshot.uncovered.set(k, s);
    }
    this.snapshot = snapshot;
    return this.opts.events === false ? 0 : this.announce(all, log);
  }

  private async announce(all: ApiEntry[], log: Logger): Promise<number> {
    const uncovered = uncoveredOf(all)
      .filter((e) => e.kind === 'Ingress')
      .map((e) => ({ e, ing: this.opts.sources.ingresses.get(`${e.namespace}/${e.name}`) }));
    const keyOf = (e: ApiEntry, uid: string | undefined): string => `${e.namespace}/${e.name}/${uid ?? ''}`;
    const current = new Set(uncovered.map(({ e, ing }) => keyOf(e, ing?.metadata.uid)));
    for (const k of this.announced) if (!current.has(k)) this.announced.delete(k);
    let writes = 0;
    for (const { e, ing } of uncovered) {
      const k = keyOf(e, ing?.metadata.uid);
      if (this.announced.has(k)) continue;
      if (writes >= EVENTS_PER_PASS) {
        this.queue.addAfter(INVENTORY_KEY, this.opts.inventoryDelayMs ?? 1000);
        break;
      }
      this.announced.add(k); // best effort: a lost Event is not retried
      writes++;
      const regarding = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: e.name, namespace: e.namespace, ...(ing?.metadata.uid ? { uid: ing.metadata.uid } : {}) };
      const note = `Ingress ${e.name} (hosts ${(e.hosts ?? []).join(', ')}) is exposed, but no ApiSecurityPolicy covers it`;
      const err = await this.opts.actions.recordEvent(regarding, 'Warning', 'UncoveredAPI', note, 'Inventory');
      if (err) log.warn({ ingress: `${e.namespace}/${e.name}`, err: err.message }, 'Failed to record Event');
    }
    return writes;
  }
}
