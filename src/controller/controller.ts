// Wires informers → workqueue → workers → PolicyReconciler. Informer handlers only map an object to
// policy keys and enqueue them; workers start after every cache has synced.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ApiSecurityPolicy, TargetRef } from '../api/v1alpha1.ts';
import type { Writer } from '../k8s/apply.ts';
import type { KubeClient } from '../k8s/client.ts';
import { isTransient } from '../k8s/errors.ts';
import { isServed } from '../k8s/discovery.ts';
import { Informer, type InformerHealth } from '../k8s/informer.ts';
import { Resources, keyOf, type KubeObject } from '../k8s/resources.ts';
import { backendServices } from '../render/index.ts';
import { ANNOTATION_POLICY, LABEL_MANAGED_BY, MANAGED_BY } from '../render/labels.ts';
import type { IngressLike, OperatorSettings } from '../render/types.ts';
import type { RepairBudget } from './drift.ts';
import { PolicyReconciler } from './reconciler.ts';
import type { ControllerMetrics } from '../observability/metrics.ts';
import { Workqueue } from './workqueue.ts';

export interface ControllerOptions {
  client: KubeClient;
  writer: Writer;
  settings: OperatorSettings;
  log: Logger;
  workers?: number;
  resyncMs?: number;
  /** Limit to one namespace (undefined: all namespaces). */
  namespace?: string;
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  /** Its queue and reconcile metrics (OperatorMetrics.controller); it registers its informers' health there too. */
  metrics?: ControllerMetrics;
  onReconcile?: (outcome: 'success' | 'error' | 'requeue', seconds: number, writes: number) => void;
  onDrift?: (kinds: string[], fight: boolean) => void;
  repairBudget?: RepairBudget;
}

type Policy = ApiSecurityPolicy & KubeObject;

/** Queue keys of baselines (cluster-scoped) cannot collide with namespace/name keys of policies. */
const BASELINE_KEY = '@baseline/';

const targetsOf = (p: KubeObject): TargetRef[] => ((p.spec as { targetRefs?: TargetRef[] } | undefined)?.targetRefs ?? []).filter(Boolean);

export class PolicyController {
  readonly queue: Workqueue;
  readonly informers: {
    policies: Informer<Policy>;
    ingresses: Informer;
    services: Informer;
    networkPolicies: Informer;
    configMaps: Informer;
    namespaces: Informer;
    baselines: Informer;
    /** Started only once discovery shows Traefik's CRDs are served. */
    middlewares: Informer;
  };
  private middlewaresStarted = false;
  private discovery?: Promise<void>;
  private rediscover?: NodeJS.Timeout;
  private readonly reconciler: PolicyReconciler;
  private readonly opts: ControllerOptions;
  private workers: Promise<void>[] = [];
  private started = false;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    const { client, log, namespace } = opts;
    const owned = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
    const inf = <T extends KubeObject>(r: (typeof Resources)[keyof typeof Resources], labelSelector?: string): Informer<T> =>
      new Informer<T>(client, r, log.child({ informer: r.plural }), { namespace, labelSelector });
    const cluster = (r: (typeof Resources)[keyof typeof Resources], fieldSelector?: string): Informer =>
      new Informer(client, r, log.child({ informer: r.plural }), fieldSelector ? { fieldSelector } : {});
    this.informers = {
      policies: inf<Policy>(Resources.policy),
      ingresses: inf(Resources.ingress),
      services: inf(Resources.service),
      networkPolicies: inf(Resources.networkPolicy, owned),
      configMaps: inf(Resources.configMap, owned),
      // Cluster-scoped: baselines select namespaces by their labels.
      namespaces: cluster(Resources.namespace, namespace ? `metadata.name=${namespace}` : undefined),
      baselines: cluster(Resources.baseline),
      middlewares: inf(Resources.middleware, owned),
    };
    this.queue = new Workqueue({ ...opts.backoff, ...(opts.metrics ? { metrics: opts.metrics.queue } : {}) });
    opts.metrics?.observe(this);
    this.reconciler = new PolicyReconciler({
      caches: {
        policies: this.informers.policies,
        ingresses: this.informers.ingresses,
        services: this.informers.services,
        networkPolicies: this.informers.networkPolicies,
        configMaps: this.informers.configMaps,
        namespaces: this.informers.namespaces,
        baselines: this.informers.baselines,
        middlewares: this.informers.middlewares,
      },
      middlewaresServed: () => this.middlewaresStarted,
      actions: opts.writer,
      settings: opts.settings,
      ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
      ...(opts.onDrift ? { onDrift: opts.onDrift } : {}),
      ...(opts.repairBudget ? { repairBudget: opts.repairBudget } : {}),
    });
    this.informers.policies.on((p) => this.onPolicy(p));
    this.informers.ingresses.on((o) => this.onIngress(o));
    this.informers.services.on((o) => this.onService(o));
    this.informers.networkPolicies.on((o) => this.onOwned(o));
    this.informers.configMaps.on((o) => this.onOwned(o));
    this.informers.namespaces.on((o) => this.onNamespace(o));
    this.informers.baselines.on((o) => this.onBaseline(o));
    this.informers.middlewares.on((o) => this.onOwned(o));
  }

  /** The informers that run (an optional one only once its API is served). */
  private running(): Pick<Informer, 'waitForSync' | 'hasSynced' | 'health'>[] {
    return (Object.values(this.informers) as Pick<Informer, 'waitForSync' | 'hasSynced' | 'health'>[]).filter((i) => i !== this.informers.middlewares || this.middlewaresStarted);
  }

  /**
   * Traefik's CRDs are optional: watch Middlewares only when they are served, checked at start and
   * every 5 minutes, so a cluster without Traefik has no failing informer and Traefik installed later
   * is picked up (every policy is then re-checked).
   */
  private async discoverOptional(): Promise<void> {
    if (this.middlewaresStarted) return;
    const served = await isServed(this.opts.client, Resources.middleware).catch((err: unknown) => {
      this.opts.log.warn({ err: (err as Error).message }, 'Discovery of traefik.io failed');
      return false;
    });
    if (!served) return;
    this.middlewaresStarted = true;
    this.informers.middlewares.start();
    this.opts.log.info('Traefik Middleware API found: watching Middlewares');
    if (this.started) {
      await this.informers.middlewares.waitForSync();
      for (const p of this.informers.policies.list()) this.queue.add(keyOf(p));
    }
  }

  /** Starts the caches (every replica keeps warm caches; only the leader runs workers). */
  startInformers(): void {
    for (const i of Object.values(this.informers)) if (i !== this.informers.middlewares) i.start();
    this.discovery = this.discoverOptional();
    this.rediscover = setInterval(() => void this.discoverOptional(), 5 * 60_000);
    this.rediscover.unref();
  }

  async waitForCacheSync(signal?: AbortSignal): Promise<boolean> {
    await this.discovery;
    const results = await Promise.all(this.running().map((i) => i.waitForSync(signal)));
    return results.every(Boolean);
  }

  get synced(): boolean {
    return this.running().every((i) => i.hasSynced);
  }

  health(): InformerHealth[] {
    return this.running().map((i) => i.health());
  }

  /** The baseline that selects a namespace (first by name), for the API inventory. */
  baselineFor(namespace: string): string | undefined {
    return this.reconciler.baselinesFor(namespace).map((b) => b.name).sort()[0];
  }

  /** Starts the workers; call after the caches have synced and leadership is held. */
  startWorkers(): void {
    if (this.started) return;
    this.started = true;
    // Everything known is reconciled once at start: level-triggered, nothing is assumed converged.
    for (const p of this.informers.policies.list()) this.queue.add(keyOf(p));
    this.enqueueBaselines();
    const n = this.opts.workers ?? 2;
    for (let i = 0; i < n; i++) this.workers.push(this.queue.run((key) => this.process(key)));
  }

  /** Stops taking work, lets in-flight reconciles finish, then stops the informers. */
  async stop(): Promise<void> {
    clearInterval(this.rediscover);
    this.queue.shutDown();
    await Promise.all(this.workers);
    await Promise.all(Object.values(this.informers).map((i) => i.stop()));
  }

  private reconciled(result: 'success' | 'error' | 'requeue', seconds: number, writes: number): void {
    this.opts.metrics?.reconciled(result, seconds);
    this.opts.onReconcile?.(result, seconds, writes);
  }

  private async process(key: string): Promise<void> {
    const baseline = key.startsWith(BASELINE_KEY) ? key.slice(BASELINE_KEY.length) : undefined;
    const [namespace = '', name = ''] = baseline === undefined ? key.split('/') : ['', baseline];
    const policy = baseline === undefined ? this.informers.policies.get(key) : undefined;
    const log = this.opts.log.child({
      controller: 'apisecuritypolicy',
      namespace,
      name,
      generation: policy?.metadata.generation,
      reconcileID: randomUUID(),
    });
    const started = performance.now();
    try {
      const res = baseline === undefined ? await this.reconciler.reconcile(namespace, name, log) : await this.reconciler.reconcileBaseline(baseline, log);
      this.queue.forget(key);
      const exists = baseline === undefined ? this.informers.policies.get(key) : this.informers.baselines.get(baseline);
      if (res.requeueAfterMs !== undefined && exists) this.queue.addAfter(key, res.requeueAfterMs);
      const seconds = (performance.now() - started) / 1000;
      if (res.writes > 0) log.debug({ writes: res.writes, seconds }, 'Reconciled');
      this.reconciled('success', seconds, res.writes);
    } catch (err) {
      const delay = this.queue.addRateLimited(key, (err as { retryAfterSeconds?: number }).retryAfterSeconds ? 1000 * ((err as { retryAfterSeconds: number }).retryAfterSeconds) : 0);
      const seconds = (performance.now() - started) / 1000;
      log.warn({ err: (err as Error).message, transient: isTransient(err), retryInMs: delay, retries: this.queue.numRequeues(key) }, 'Reconcile failed');
      this.reconciled(isTransient(err) ? 'requeue' : 'error', seconds, 0);
    } finally {
      this.queue.done(key);
    }
  }

  // ---- event → keys ----

  private onPolicy(p: Policy): void {
    this.queue.add(keyOf(p));
    this.enqueueBaselines(); // their policy and violation counts
    // Policies sharing a target decide a winner between them: re-check the others.
    const mine = new Set(targetsOf(p).map((t) => `${t.kind}/${t.name}`));
    for (const other of this.informers.policies.list(p.metadata.namespace)) {
      if (other.metadata.name !== p.metadata.name && targetsOf(other).some((t) => mine.has(`${t.kind}/${t.name}`))) this.queue.add(keyOf(other));
    }
  }

  private policiesTargeting(namespace: string | undefined, kind: string, name: string): Policy[] {
    return this.informers.policies.list(namespace).filter((p) => targetsOf(p).some((t) => t.kind === kind && t.name === name));
  }

  private onIngress(o: KubeObject): void {
    const ns = o.metadata.namespace;
    for (const p of this.policiesTargeting(ns, 'Ingress', o.metadata.name)) this.queue.add(keyOf(p));
    const marker = o.metadata.annotations?.[ANNOTATION_POLICY];
    if (marker && ns) this.queue.add(`${ns}/${marker}`);
    this.enqueueBaselines(); // protectUncovered: a new, changed or released Ingress may need the floors
  }

  private onService(o: KubeObject): void {
    const ns = o.metadata.namespace;
    for (const p of this.policiesTargeting(ns, 'Service', o.metadata.name)) this.queue.add(keyOf(p));
    // A Service behind a target Ingress shapes that policy's NetworkPolicy.
    for (const ing of this.informers.ingresses.list(ns)) {
      if (backendServices([ing as IngressLike]).includes(o.metadata.name)) {
        for (const p of this.policiesTargeting(ns, 'Ingress', ing.metadata.name)) this.queue.add(keyOf(p));
      }
    }
  }

  /**
   * Baseline status needs the whole cluster's view: an operator limited to one namespace applies
   * baselines to its policies but leaves their status to a cluster-wide operator.
   */
  private enqueueBaselines(): void {
    if (this.opts.namespace) return;
    for (const b of this.informers.baselines.list()) this.queue.add(`${BASELINE_KEY}${b.metadata.name}`);
  }

  /** A baseline can select any namespace (before or after a change): every policy is re-checked. */
  private onBaseline(b: KubeObject): void {
    if (!this.opts.namespace) this.queue.add(`${BASELINE_KEY}${b.metadata.name}`);
    for (const p of this.informers.policies.list()) this.queue.add(keyOf(p));
  }

  private onNamespace(n: KubeObject): void {
    for (const p of this.informers.policies.list(n.metadata.name)) this.queue.add(keyOf(p));
    this.enqueueBaselines();
  }

  private onOwned(o: KubeObject): void {
    const owner = o.metadata.ownerReferences?.find((r) => r.kind === 'ApiSecurityPolicy');
    if (owner && o.metadata.namespace) this.queue.add(`${o.metadata.namespace}/${owner.name}`);
  }
}
