// Wires the caches to the controllers, as controller-runtime's manager does: one set of informers (every
// replica keeps them warm), the policy and baseline controllers on the runtime (workers only on the
// leader), and the mapping of each informer event to the keys it concerns. Handlers only enqueue.
import type { Logger } from 'pino';
import type { ApiSecurityPolicy } from '../api/v1alpha1.ts';
import type { Writer } from '../k8s/apply.ts';
import type { KubeClient } from '../k8s/client.ts';
import { isServed } from '../k8s/discovery.ts';
import { Informer, type InformerHealth } from '../k8s/informer.ts';
import { Resources, keyOf, type KubeObject, type ResourceType } from '../k8s/resources.ts';
import type { ControllerMetrics, ReconcileResult } from '../observability/metrics.ts';
import { ANNOTATION_POLICY, LABEL_API_KEYS, LABEL_CLIENT_CA, LABEL_EVENT, LABEL_MANAGED_BY, MANAGED_BY, RATE_LIMIT_STORE_EVENT, SUSPICIOUS_ACTIVITY } from '../render/labels.ts';
import type { OperatorSettings } from '../render/types.ts';
import { BaselineReconciler, selectBaselines } from './baseline.ts';
import { slimEvent, slimObject, slimOwned, slimPod, slimSecret } from './slim.ts';
import type { RepairBudget } from './drift.ts';
import { indexed, indexersFor, nameKey, targetKey, targetsOf, type IndexName } from './indexes.ts';
import { PendingWrites } from './pending.ts';
import { PolicyReconciler } from './policy.ts';
import { Controller } from './runtime.ts';

export interface ManagerOptions {
  client: KubeClient;
  writer: Writer;
  settings: OperatorSettings;
  log: Logger;
  /** Workers of the policy controller (the baseline controller has one). */
  workers?: number;
  resyncMs?: number;
  /** How often optional APIs (Traefik, Gateway API, Envoy Gateway CRDs) are looked for again (5 min). */
  discoveryIntervalMs?: number;
  /** Limit to one namespace (undefined: all namespaces). */
  namespace?: string;
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  /** Registers a controller's metrics by name (OperatorMetrics.controller). */
  metrics?: (name: string) => ControllerMetrics;
  onReconcile?: (outcome: ReconcileResult, seconds: number, writes: number) => void;
  onDrift?: (kinds: string[], fight: boolean) => void;
  repairBudget?: RepairBudget;
  /** With the sidecar injection webhook: watch pods (metadata only) for the policies' SidecarInjected. */
  sidecarInjection?: { operatorNamespace: string };
}

type Policy = ApiSecurityPolicy & KubeObject;
type AnyInformer = Pick<Informer, 'start' | 'stop' | 'waitForSync' | 'hasSynced' | 'health'>;
/** How long a baseline waits to recount after a change in a namespace it selects: changes coalesce. */
const BASELINE_RECOUNT_MS = 1000;

export class Manager {
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
    suspiciousEvents: Informer;
    clientCAs: Informer;
    apiKeySecrets: Informer;
    /** Started once the Gateway API is served. */
    httpRoutes: Informer;
    gateways: Informer;
    gatewayClasses: Informer;
    /** Started once Envoy Gateway's policy CRDs are served. */
    securityPolicies: Informer;
    backendTrafficPolicies: Informer;
    /** Only with sidecar injection. */
    pods?: Informer;
  };
  readonly policies: Controller;
  /** Baseline status and protection; runs only in a cluster-wide operator. */
  readonly baselines: Controller;
  /** APIs the operator uses only when installed: found by discovery, their informers started then. */
  private readonly optional: { name: string; probe: ResourceType; informers: AnyInformer[]; found: boolean }[];
  private discovery?: Promise<void>;
  private rediscover?: NodeJS.Timeout;
  private readonly opts: ManagerOptions;
  private started = false;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.informers = this.makeInformers();
    const i = this.informers;
    this.optional = [
      { name: 'Traefik Middleware', probe: Resources.middleware, informers: [i.middlewares], found: false },
      { name: 'Gateway API', probe: Resources.httpRoute, informers: [i.httpRoutes, i.gateways, i.gatewayClasses], found: false },
      { name: 'Envoy Gateway policy', probe: Resources.securityPolicy, informers: [i.securityPolicies, i.backendTrafficPolicies], found: false },
    ];
    const caches = this.informers;
    const pending = new PendingWrites(); // both controllers write Ingress annotations
    const common = { log: opts.log, ...(opts.backoff ? { backoff: opts.backoff } : {}), ...(opts.onReconcile ? { onReconcile: opts.onReconcile } : {}) };
    const health = (): InformerHealth[] => this.running().map((i) => i.health());
    this.policies = new Controller({
      ...common,
      name: 'apisecuritypolicy',
      workers: opts.workers ?? 2,
      health,
      ...(opts.metrics ? { metrics: opts.metrics('apisecuritypolicy') } : {}),
      reconciler: new PolicyReconciler({
        caches,
        actions: opts.writer,
        settings: opts.settings,
        pending,
        middlewaresServed: () => this.served(Resources.middleware),
        envoyGatewayServed: () => this.served(Resources.securityPolicy),
        ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
        ...(opts.onDrift ? { onDrift: opts.onDrift } : {}),
        ...(opts.repairBudget ? { repairBudget: opts.repairBudget } : {}),
        ...(opts.sidecarInjection ? { injection: opts.sidecarInjection } : {}),
      }),
    });
    this.baselines = new Controller({
      ...common,
      name: 'clusterapisecuritypolicy',
      ...(opts.metrics ? { metrics: opts.metrics('clusterapisecuritypolicy') } : {}),
      reconciler: new BaselineReconciler({ caches, actions: opts.writer, settings: opts.settings, pending, ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}) }),
    });
    this.watch();
  }

  private makeInformers(): Manager['informers'] {
    const { client, log, namespace } = this.opts;
    const owned = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
    // Every namespaced cache keeps only what the operator compares or names (slim.ts).
    // Generated objects are found by their owner policy; policies by target; Ingresses by marker and backend.
    const inf = <T extends KubeObject>(r: (typeof Resources)[keyof typeof Resources], labelSelector?: string, indexes: IndexName[] = labelSelector === owned ? ['owner'] : []): Informer<T> =>
      new Informer<T>(client, r, log.child({ informer: r.plural }), { namespace, labelSelector, transform: labelSelector === owned ? slimOwned : slimObject, indexers: indexersFor(...indexes) });
    const cluster = (r: (typeof Resources)[keyof typeof Resources], fieldSelector?: string): Informer =>
      new Informer(client, r, log.child({ informer: r.plural }), fieldSelector ? { fieldSelector } : {});
    return {
      policies: inf<Policy>(Resources.policy, undefined, ['target']),
      ingresses: inf(Resources.ingress, undefined, ['marker', 'backend']),
      services: inf(Resources.service),
      networkPolicies: inf(Resources.networkPolicy, owned),
      configMaps: inf(Resources.configMap, owned),
      // Cluster-scoped: baselines select namespaces by their labels.
      namespaces: cluster(Resources.namespace, namespace ? `metadata.name=${namespace}` : undefined),
      baselines: cluster(Resources.baseline),
      middlewares: inf(Resources.middleware, owned),
      // Only the guard's labelled Events, and of each only what the status names: Events live an hour.
      suspiciousEvents: new Informer(client, Resources.event, log.child({ informer: 'events' }), { namespace, labelSelector: `${LABEL_EVENT} in (${SUSPICIOUS_ACTIVITY},${RATE_LIMIT_STORE_EVENT})`, transform: slimEvent }),
      // Whether a Secret consents to be a client CA: its name, from a metadata-only watch (never its data).
      clientCAs: new Informer(client, Resources.secret, log.child({ informer: 'secrets' }), { namespace, labelSelector: `${LABEL_CLIENT_CA}=true`, metadataOnly: true, transform: slimSecret }),
      apiKeySecrets: new Informer(client, Resources.secret, log.child({ informer: 'api-key-secrets' }), { namespace, labelSelector: `${LABEL_API_KEYS}=true`, metadataOnly: true, transform: slimSecret }),
      httpRoutes: inf(Resources.httpRoute, undefined, ['marker']),
      // A route's parent Gateway may live in another namespace (all of them, unless one is watched).
      gateways: inf(Resources.gateway),
      gatewayClasses: cluster(Resources.gatewayClass),
      securityPolicies: inf(Resources.securityPolicy, owned),
      backendTrafficPolicies: inf(Resources.backendTrafficPolicy, owned),
      // Whether the pods behind a sidecar policy's Services carry it: names, labels, one annotation.
      ...(this.opts.sidecarInjection ? { pods: new Informer(client, Resources.pod, log.child({ informer: 'pods' }), { namespace, metadataOnly: true, transform: slimPod }) } : {}),
    };
  }

  /** Every informer there is (pods only with sidecar injection). */
  private all(): AnyInformer[] {
    return (Object.values(this.informers) as (AnyInformer | undefined)[]).filter((i): i is AnyInformer => i !== undefined);
  }

  /** Nothing waiting and nothing in flight in either controller. */
  get idle(): boolean {
    return this.policies.idle && this.baselines.idle;
  }

  /** The informers that run (an optional one only once its API is served). */
  private running(): AnyInformer[] {
    const waiting = new Set(this.optional.filter((o) => !o.found).flatMap((o) => o.informers));
    return this.all().filter((i) => !waiting.has(i));
  }

  /** Whether the optional API that `probe` belongs to was found (its informers run). */
  private served(probe: ResourceType): boolean {
    return this.optional.some((o) => o.probe === probe && o.found);
  }

  /**
   * Traefik's CRDs, the Gateway API and Envoy Gateway's CRDs are optional: each is watched only once it is
   * served, checked at start and every 5 minutes, so a cluster without it has no failing informer and one
   * installed later is picked up (every policy is then re-checked).
   */
  private async discoverOptional(): Promise<void> {
    for (const o of this.optional) {
      if (o.found) continue;
      const served = await isServed(this.opts.client, o.probe).catch((err: unknown) => {
        this.opts.log.warn({ err: (err as Error).message, api: o.name }, 'Discovery of an optional API failed');
        return false;
      });
      if (!served) continue;
      o.found = true;
      for (const inf of o.informers) inf.start();
      this.opts.log.info({ api: o.name, group: o.probe.group }, 'Optional API found: watching it');
      if (this.started) {
        await Promise.all(o.informers.map((inf) => inf.waitForSync()));
        this.enqueueAllPolicies();
      }
    }
  }

  /** Starts the caches (every replica keeps warm caches; only the leader runs workers). */
  startInformers(): void {
    const optional = new Set(this.optional.flatMap((o) => o.informers));
    for (const i of this.all()) if (!optional.has(i)) i.start();
    this.discovery = this.discoverOptional();
    this.rediscover = setInterval(() => void this.discoverOptional(), this.opts.discoveryIntervalMs ?? 5 * 60_000);
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
    return this.policies.health();
  }

  /** The baseline that selects a namespace (first by name), for the API inventory. */
  baselineFor(namespace: string): string | undefined {
    return selectBaselines(this.informers, namespace).map((b) => b.name).sort()[0];
  }

  /** Starts the workers; call after the caches have synced and leadership is held. */
  startWorkers(): void {
    if (this.started) return;
    this.started = true;
    // Everything known is reconciled once at start: level-triggered, nothing is assumed converged.
    this.enqueueAllPolicies();
    this.enqueueBaselines();
    this.policies.start();
    if (!this.opts.namespace) this.baselines.start();
  }

  /** Stops taking work, lets in-flight reconciles finish, then stops the informers. */
  async stop(): Promise<void> {
    clearInterval(this.rediscover);
    await Promise.all([this.policies.stop(), this.baselines.stop()]);
    await Promise.all(this.all().map((i) => i.stop()));
  }

  // ---- event → keys ----

  private watch(): void {
    this.informers.policies.on((p) => this.onPolicy(p));
    this.informers.ingresses.on((o) => this.onIngress(o));
    this.informers.services.on((o) => this.onService(o));
    this.informers.networkPolicies.on((o) => this.onOwned(o));
    this.informers.configMaps.on((o) => this.onOwned(o));
    this.informers.namespaces.on((o) => this.onNamespace(o));
    this.informers.baselines.on((o) => this.onBaseline(o));
    this.informers.middlewares.on((o) => this.onOwned(o));
    this.informers.securityPolicies.on((o) => this.onOwned(o));
    this.informers.backendTrafficPolicies.on((o) => this.onOwned(o));
    this.informers.httpRoutes.on((o) => this.onRoute(o));
    this.informers.gateways.on(() => this.onGatewayChange());
    this.informers.gatewayClasses.on(() => this.onGatewayChange());
    this.informers.suspiciousEvents.on((e) => this.onSuspicious(e));
    this.informers.clientCAs.on((s) => this.onConsent(s));
    this.informers.apiKeySecrets.on((s) => this.onConsent(s));
    this.informers.pods?.on((p) => this.onPod(p));
  }

  /** A pod came, went or changed: the namespace's sidecar policies count their pods again. */
  private onPod(p: KubeObject): void {
    for (const policy of this.informers.policies.list(p.metadata.namespace)) {
      if (policy.spec?.sidecar && policy.spec.sidecar.enabled !== false) this.policies.enqueue(keyOf(policy));
    }
  }

  private enqueueAllPolicies(namespace?: string): void {
    for (const p of this.informers.policies.list(namespace)) this.policies.enqueue(keyOf(p));
  }

  /** Baseline status needs the whole cluster's view: only a cluster-wide operator runs the baseline controller. */
  private enqueueBaselines(): void {
    if (this.opts.namespace) return;
    for (const b of this.informers.baselines.list()) this.baselines.enqueue(b.metadata.name);
  }

  /**
   * A policy or Ingress of `namespace` changed: the baselines that select it recount (their policy and
   * violation counts, protectUncovered), each at most once a second: a cold start changes thousands,
   * and one baseline reconcile reads every policy it selects.
   */
  private recountBaselinesOf(namespace: string | undefined): void {
    if (this.opts.namespace || !namespace) return;
    for (const b of selectBaselines(this.informers, namespace)) this.baselines.enqueueAfter(b.name, BASELINE_RECOUNT_MS);
  }

  private onPolicy(p: Policy): void {
    this.policies.enqueue(keyOf(p));
    this.recountBaselinesOf(p.metadata.namespace);
    // Policies sharing a target decide a winner between them: re-check the others.
    for (const t of targetsOf(p)) {
      for (const other of this.policiesTargeting(p.metadata.namespace, t.kind, t.name)) if (other.metadata.name !== p.metadata.name) this.policies.enqueue(keyOf(other));
    }
  }

  private policiesTargeting(namespace: string | undefined, kind: string, name: string): Policy[] {
    return indexed(this.informers.policies, 'target', targetKey(namespace, kind, name));
  }

  private onIngress(o: KubeObject): void {
    const ns = o.metadata.namespace;
    for (const p of this.policiesTargeting(ns, 'Ingress', o.metadata.name)) this.policies.enqueue(keyOf(p));
    const marker = o.metadata.annotations?.[ANNOTATION_POLICY];
    if (marker && ns) this.policies.enqueue(`${ns}/${marker}`);
    this.recountBaselinesOf(ns); // protectUncovered: a new, changed or released Ingress may need the floors
  }

  private onService(o: KubeObject): void {
    const ns = o.metadata.namespace;
    for (const p of this.policiesTargeting(ns, 'Service', o.metadata.name)) this.policies.enqueue(keyOf(p));
    // A Service behind a target Ingress shapes that policy's NetworkPolicy.
    for (const ing of indexed(this.informers.ingresses, 'backend', nameKey(ns, o.metadata.name))) {
      for (const p of this.policiesTargeting(ns, 'Ingress', ing.metadata.name)) this.policies.enqueue(keyOf(p));
    }
  }

  private onRoute(o: KubeObject): void {
    for (const p of this.policiesTargeting(o.metadata.namespace, 'HTTPRoute', o.metadata.name)) this.policies.enqueue(keyOf(p));
  }

  /** A Gateway or GatewayClass decides the data plane of the routes attached to it: routes' policies re-check. */
  private onGatewayChange(): void {
    for (const p of this.informers.policies.list()) if (targetsOf(p).some((t) => t.kind === 'HTTPRoute')) this.policies.enqueue(keyOf(p));
  }

  /** A baseline can select any namespace (before or after a change): every policy is re-checked. */
  private onBaseline(b: KubeObject): void {
    if (!this.opts.namespace) this.baselines.enqueue(b.metadata.name);
    this.enqueueAllPolicies();
  }

  private onNamespace(n: KubeObject): void {
    this.enqueueAllPolicies(n.metadata.name);
    this.enqueueBaselines();
  }

  /** The guard reported a brute force on a policy: its status says so. */
  private onSuspicious(e: KubeObject): void {
    const regarding = e.regarding as { kind?: string; name?: string; namespace?: string } | undefined;
    if (regarding?.kind === 'ApiSecurityPolicy' && regarding.name && e.metadata.namespace) this.policies.enqueue(`${e.metadata.namespace}/${regarding.name}`);
  }

  /** A Secret gained or lost a consent label (or came or went): the policies naming it decide again. */
  private onConsent(s: KubeObject): void {
    for (const p of this.informers.policies.list(s.metadata.namespace)) {
      const auth = p.spec?.authentication;
      if (auth?.mtls?.caSecretRef === s.metadata.name || auth?.apiKey?.secretRef?.name === s.metadata.name) this.policies.enqueue(keyOf(p));
    }
  }

  private onOwned(o: KubeObject): void {
    const owner = o.metadata.ownerReferences?.find((r) => r.kind === 'ApiSecurityPolicy');
    if (owner && o.metadata.namespace) this.policies.enqueue(`${o.metadata.namespace}/${owner.name}`);
  }
}
