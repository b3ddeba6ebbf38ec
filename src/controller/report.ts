// The PolicyReport of one namespace (keyed by the namespace's name): a wgpolicyk8s.io/v1alpha2 report of
// each policy's control results and a fail result per API nothing covers, written (server-side apply) only
// when it differs from the cached one and deleted when there is nothing to report. The PolicyReport API is
// optional: PolicyReportApi looks for it at start and every `rediscoverMs`, and runs the report cache
// only while it is served.
import type { Logger } from 'pino';
import type { ApiSecurityPolicyStatus } from '../api/v1alpha1.ts';
import { claimedTargets } from '../compliance/claims.ts';
import { uncoveredOf } from '../compliance/inventory.ts';
import type { KubeClient } from '../k8s/client.ts';
import { isServed } from '../k8s/discovery.ts';
import { isNotFound } from '../k8s/errors.ts';
import { Informer, type InformerHealth } from '../k8s/informer.ts';
import type { KubeObject, ResourceType } from '../k8s/resources.ts';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../render/labels.ts';
import { ANNOTATION_OMITTED, REPORT_NAME, renderPolicyReport, type ReportApi, type ReportPolicy, type ReportTarget } from '../render/policy-report.ts';
import { sleep } from '../util/sleep.ts';
import type { OwnedResource } from './deps.ts';
import { inventoryOf, type InventorySources } from './inventory.ts';
import { PendingWrites } from './pending.ts';
import type { ReconcileContext, ReconcileOutcome, Reconciler } from './runtime.ts';
import { canonical } from './state.ts';

export type ReportsState = 'discovering' | 'enabled' | 'disabled';

/** The writes of the report reconciler; src/k8s/apply.ts Writer implements them. */
export interface ReportWrites {
  applyOwned(r: ResourceType | OwnedResource, obj: KubeObject): Promise<unknown>;
  delete(r: ResourceType | OwnedResource, namespace: string, name: string, uid?: string): Promise<void>;
}

type PolicyObject = KubeObject & { status?: ApiSecurityPolicyStatus };

/** The fields the operator sets on a report, read the same way from the desired and the cached object. */
const managedView = (o: KubeObject): unknown => ({
  managedBy: o.metadata.labels?.[LABEL_MANAGED_BY],
  omitted: o.metadata.annotations?.[ANNOTATION_OMITTED],
  summary: o.summary,
  results: o.results,
});

export interface ReportApiOptions {
  client: KubeClient;
  resource: ResourceType;
  log: Logger;
  namespace?: string;
  /** How often to look for the API again (default 5 min; 0: never). */
  rediscoverMs?: number;
  /** Called once the report cache synced (every namespace needs a report then). */
  onEnabled: () => void;
  /** Someone else changed or deleted one of our reports (our own writes only cause a comparison). */
  onReportChanged: (namespace: string) => void;
}

/**
 * Whether the PolicyReport API is served, and the cache of our reports while it is. An error that says
 * neither keeps the current state and is retried with backoff up to a minute.
 */
export class PolicyReportApi {
  private readonly opts: ReportApiOptions;
  private readonly abort = new AbortController();
  private informer?: Informer;
  private current: ReportsState = 'discovering';
  private stopped = false;
  private rechecking = false;
  private settle!: (s: ReportsState) => void;
  /** Resolves with the outcome of the first discovery: enabled (report cache synced) or disabled. */
  readonly settled: Promise<ReportsState>;

  constructor(opts: ReportApiOptions) {
    this.opts = opts;
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  get state(): ReportsState {
    return this.current;
  }

  /** The report cache (only while enabled). */
  get cache(): Informer | undefined {
    return this.current === 'enabled' ? this.informer : undefined;
  }

  health(): InformerHealth[] {
    return this.informer ? [this.informer.health()] : [];
  }

  namespaces(): string[] {
    return (this.informer?.list() ?? []).map((o) => o.metadata.namespace ?? '').filter(Boolean);
  }

  /** Runs discovery until stopped. */
  async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let served: boolean;
      try {
        served = await isServed(this.opts.client, this.opts.resource, this.abort.signal);
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        failures++;
        const delay = Math.min(60_000, 1000 * 2 ** Math.min(failures - 1, 6));
        if (failures === 1 || failures % 10 === 0) this.opts.log.warn({ resource: this.what, err: (err as Error).message, retryInMs: delay }, 'Cannot tell whether the PolicyReport API is served; retrying');
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

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.informer?.stop();
    this.settle('disabled');
  }

  /** After a 404 from the report API: if the API is gone, stop reporting now (discovery enables it again). */
  async recheck(): Promise<void> {
    if (this.current !== 'enabled' || this.rechecking) return;
    this.rechecking = true;
    try {
      const served = await isServed(this.opts.client, this.opts.resource, this.abort.signal).catch(() => true);
      if (!served && this.current === 'enabled' && !this.stopped) await this.disable();
    } finally {
      this.rechecking = false;
    }
  }

  private async enable(): Promise<void> {
    const informer = new Informer(this.opts.client, this.opts.resource, this.opts.log.child({ informer: this.opts.resource.plural }), {
      labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
      pageSize: 100,
      ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
    });
    informer.on((o) => {
      if (o.metadata.name === REPORT_NAME && o.metadata.namespace && this.current === 'enabled') this.opts.onReportChanged(o.metadata.namespace);
    });
    this.informer = informer;
    informer.start();
    if (!(await informer.waitForSync(this.abort.signal)) || this.stopped) return;
    this.setState('enabled');
    this.opts.log.info({ resource: this.what }, 'Publishing PolicyReports');
    this.opts.onEnabled();
  }

  private async disable(): Promise<void> {
    this.opts.log.warn({ resource: this.what }, 'The PolicyReport API is not served (CRD not installed): running without PolicyReports; metrics and Events still work');
    this.setState('disabled');
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop();
  }

  private get what(): string {
    return `${this.opts.resource.plural}.${this.opts.resource.group}/${this.opts.resource.version}`;
  }

  private setState(s: ReportsState): void {
    this.current = s;
    if (s !== 'discovering') this.settle(s);
  }
}

export interface ReportReconcilerDeps {
  api: PolicyReportApi;
  resource: ResourceType;
  actions: ReportWrites;
  sources: InventorySources;
  baselineFor?: (namespace: string) => string | undefined;
  maxResults?: number;
}

export class ReportReconciler implements Reconciler {
  private readonly deps: ReportReconcilerDeps;
  private readonly pending = new PendingWrites();

  constructor(deps: ReportReconcilerDeps) {
    this.deps = deps;
  }

  logFields(namespace: string): Record<string, unknown> {
    return { namespace };
  }

  failed(_namespace: string, err: unknown): void {
    if (isNotFound(err)) void this.deps.api.recheck();
  }

  async reconcile(namespace: string, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    const cache = this.deps.api.cache;
    if (!cache) return undefined;
    const key = `${namespace}/${REPORT_NAME}`;
    const cached = cache.get(key);
    // The cache has not seen our last write yet; its watch event requeues the namespace (this is a safety net).
    if (this.pending.behind(key, cached)) return { requeueAfterMs: 2000 };
    const desired = this.desiredReport(namespace);
    if (!desired) {
      if (!cached) return undefined;
      await this.deps.actions.delete(this.deps.resource, namespace, REPORT_NAME, cached.metadata.uid);
      this.pending.wrote(key, cached.metadata.resourceVersion, undefined);
      ctx.writes.add();
      ctx.log.info('Deleted PolicyReport: nothing left to report');
      return undefined;
    }
    if (cached && canonical(managedView(cached)) === canonical(managedView(desired))) return undefined;
    const after = (await this.deps.actions.applyOwned(this.deps.resource, desired)) as KubeObject | undefined;
    ctx.writes.add();
    const rv = after?.metadata?.resourceVersion;
    if (rv !== cached?.metadata.resourceVersion) this.pending.wrote(key, cached?.metadata.resourceVersion, rv);
    ctx.log.info({ results: (desired.results as unknown[]).length, summary: desired.summary }, cached ? 'Updated PolicyReport' : 'Created PolicyReport');
    return undefined;
  }

  private desiredReport(namespace: string): KubeObject | undefined {
    const { ingresses, services, policies: policyCache } = this.deps.sources;
    const uidOf = (kind: string, name: string): string | undefined => (kind === 'Ingress' ? ingresses : services).get(`${namespace}/${name}`)?.metadata.uid;
    const policies: ReportPolicy[] = (policyCache.list(namespace) as PolicyObject[])
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => {
        const targets: ReportTarget[] = claimedTargets(p.spec).map(({ kind, name }) => {
          const uid = uidOf(kind, name);
          return { kind, name, ...(uid ? { uid } : {}) };
        });
        const condition = (type: string): { status: string; reason: string; message: string } | undefined => {
          const c = p.status?.conditions?.find((x) => x.type === type);
          return c ? { status: c.status, reason: c.reason, message: c.message } : undefined;
        };
        const [accepted, sidecarInjected] = [condition('Accepted'), condition('SidecarInjected')];
        return {
          name: p.metadata.name,
          targets,
          ...(p.status?.controls ? { controls: p.status.controls } : {}),
          ...(accepted ? { accepted } : {}),
          ...(sidecarInjected ? { sidecarInjected } : {}),
        };
      });
    const uncovered: ReportApi[] = uncoveredOf(inventoryOf(this.deps.sources, this.deps.baselineFor, namespace)).map((e) => {
      const uid = uidOf(e.kind, e.name);
      return { kind: e.kind, name: e.name, ...(e.hosts ? { hosts: e.hosts } : {}), ...(e.paths ? { paths: e.paths } : {}), ...(e.serviceType ? { serviceType: e.serviceType } : {}), ...(uid ? { uid } : {}) };
    });
    const report = renderPolicyReport({ namespace, policies, uncovered, ...(this.deps.maxResults ? { maxResults: this.deps.maxResults } : {}) });
    return report as unknown as KubeObject | undefined;
  }
}
