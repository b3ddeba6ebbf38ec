// The inventory reconcile: one key for the whole cluster (or the operator's namespace). It recomputes which
// exposed APIs a policy, a baseline or nothing covers (compliance/inventory.ts), keeps the figures for
// the metrics apisec_apis and apisec_uncovered_apis (read at scrape time), and records one Warning Event
// per Ingress when it becomes uncovered (at most EVENTS_PER_PASS per pass; the rest a window later).
import type { RouteLike } from '../render/gateway-api.ts';
import { apiInventory, uncoveredOf, type ApiEntry, type Coverage } from '../compliance/inventory.ts';
import { protectedByMarker } from '../compliance/protect.ts';
import { FIELD_MANAGER } from '../k8s/client.ts';
import type { KubeObject } from '../k8s/resources.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import type { RecordEvent, Store } from './deps.ts';
import type { ReconcileContext, ReconcileOutcome, Reconciler } from './runtime.ts';

/** The one key of the inventory controller. */
export const INVENTORY_KEY = 'inventory';

/** At most this many Events per inventory pass; the rest follow in the next passes, one window apart. */
export const EVENTS_PER_PASS = 20;
const COVERAGES: readonly Coverage[] = ['policy', 'baseline', 'none'];

export interface InventorySources {
  policies: Store<KubeObject>;
  ingresses: Store<KubeObject>;
  services: Store<KubeObject>;
  /** Empty while the Gateway API is not served. */
  httpRoutes?: Store<KubeObject>;
}

export interface InventoryDeps {
  sources: InventorySources;
  recordEvent: RecordEvent;
  /** The baseline (ClusterApiSecurityPolicy) that selects a namespace, if any. */
  baselineFor?: (namespace: string) => string | undefined;
  /** Limit to one namespace (undefined: all namespaces). */
  namespace?: string;
  /** Warning Event UncoveredAPI on an Ingress when it becomes uncovered (default true). */
  events?: boolean;
  /** The delay before the next pass when Events are left over (default 1 s). */
  nextPassMs?: number;
}

interface Snapshot {
  uncovered: Map<string, { namespace: string; kind: string; value: number }>;
  coverage: Record<Coverage, number>;
}

/** The API inventory of a namespace (or all), as the operator sees it: shared with the report reconciler. */
export function inventoryOf(sources: InventorySources, baselineFor: ((ns: string) => string | undefined) | undefined, namespace?: string): ApiEntry[] {
  return apiInventory({
    policies: sources.policies.list(namespace),
    ingresses: sources.ingresses.list(namespace) as IngressLike[],
    services: sources.services.list(namespace) as ServiceLike[],
    ...(sources.httpRoutes ? { routes: sources.httpRoutes.list(namespace) as RouteLike[] } : {}),
    ...(baselineFor ? { baselineFor } : {}),
    protectedBy: (ing) => protectedByMarker(ing as KubeObject, FIELD_MANAGER),
  });
}

export class InventoryReconciler implements Reconciler {
  private readonly deps: InventoryDeps;
  /** Ingresses ("ns/name/uid") announced as uncovered; pruned to the current uncovered set each pass. */
  private readonly announced = new Set<string>();
  private snapshot: Snapshot = { uncovered: new Map(), coverage: { policy: 0, baseline: 0, none: 0 } };
  /** How long the last pass computed (ms): a pass reads every policy, Ingress and Service. */
  lastPassMs = 0;

  constructor(deps: InventoryDeps) {
    this.deps = deps;
  }

  async reconcile(_key: string, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    const started = performance.now();
    const all = inventoryOf(this.deps.sources, this.deps.baselineFor, this.deps.namespace);
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
    this.lastPassMs = performance.now() - started;
    if (this.deps.events === false) return undefined;
    const leftOver = await this.announce(all, ctx);
    return leftOver ? { requeueAfterMs: this.deps.nextPassMs ?? 1000 } : undefined;
  }

  /** apisec_uncovered_apis{namespace,kind}, from the last pass. */
  uncoveredSamples(): { labels: { namespace: string; kind: string }; value: number }[] {
    return [...this.snapshot.uncovered.values()].map(({ namespace, kind, value }) => ({ labels: { namespace, kind }, value }));
  }

  /** apisec_apis{coverage}, from the last pass (every coverage value, zero included). */
  coverageSamples(): { labels: { coverage: string }; value: number }[] {
    return COVERAGES.map((coverage) => ({ labels: { coverage }, value: this.snapshot.coverage[coverage] }));
  }

  /** Records the Events of newly uncovered Ingresses; true when some are left for the next pass. */
  private async announce(all: ApiEntry[], ctx: ReconcileContext): Promise<boolean> {
    const uncovered = uncoveredOf(all)
      .filter((e) => e.kind === 'Ingress')
      .map((e) => ({ e, ing: this.deps.sources.ingresses.get(`${e.namespace}/${e.name}`) }));
    const keyOf = (e: ApiEntry, uid: string | undefined): string => `${e.namespace}/${e.name}/${uid ?? ''}`;
    const current = new Set(uncovered.map(({ e, ing }) => keyOf(e, ing?.metadata.uid)));
    for (const k of this.announced) if (!current.has(k)) this.announced.delete(k);
    let sent = 0;
    for (const { e, ing } of uncovered) {
      const k = keyOf(e, ing?.metadata.uid);
      if (this.announced.has(k)) continue;
      if (sent >= EVENTS_PER_PASS) return true;
      this.announced.add(k); // best effort: a lost Event is not retried
      sent++;
      ctx.writes.add();
      const regarding = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: e.name, namespace: e.namespace, ...(ing?.metadata.uid ? { uid: ing.metadata.uid } : {}) };
      const note = `Ingress ${e.name} (hosts ${(e.hosts ?? []).join(', ')}) is exposed, but no ApiSecurityPolicy covers it`;
      const err = await this.deps.recordEvent(regarding, { type: 'Warning', reason: 'UncoveredAPI', note, action: 'Inventory' });
      if (err) ctx.log.warn({ ingress: `${e.namespace}/${e.name}`, err: err.message }, 'Failed to record Event');
    }
    return false;
  }
}
