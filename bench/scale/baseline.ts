// The baseline: the API server's own speed for exactly the writes the operator makes on a cold start.
// The writes are found by running the operator's own PolicyReconciler once per policy on in-memory caches
// of the same objects (listed from the server) with an Actions that only records; a bare client then
// replays them by server-side apply, each policy's writes in order, as many policies at once as the
// operator has workers, as fast as it can. Nothing of the operator (caches, queue, handlers) is timed.
import { pino } from 'pino';
import { FINALIZER, PolicyReconciler } from '../../src/controller/policy.ts';
import type { Actions, Caches, Store } from '../../src/controller/deps.ts';
import { WriteCounter, type ReconcileContext } from '../../src/controller/runtime.ts';
import { slimObject } from '../../src/controller/slim.ts';
import { Writer } from '../../src/k8s/apply.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { listAll } from '../../src/k8s/list.ts';
import { Resources, keyOf, type KubeObject } from '../../src/k8s/resources.ts';
import type { OperatorSettings } from '../../src/render/types.ts';
import { systemClock } from '../../src/util/clock.ts';
import { pooled } from './fixtures.ts';

type Policy = Caches['policies'] extends Store<infer P> ? P : never;

/** One recorded write: replayed against a Writer. */
type Write = { what: string; run: (w: Writer) => Promise<unknown> };

/** A read-only store over a fixed set of objects, indexed by namespace. */
class MemoryStore<T extends KubeObject> implements Store<T> {
  private readonly byKey = new Map<string, T>();
  private readonly byNamespace = new Map<string, T[]>();

  constructor(objects: T[]) {
    for (const o of objects) {
      this.byKey.set(keyOf(o), o);
      const ns = o.metadata.namespace ?? '';
      const list = this.byNamespace.get(ns) ?? [];
      list.push(o);
      this.byNamespace.set(ns, list);
    }
  }

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  list(namespace?: string): T[] {
    return namespace === undefined ? [...this.byKey.values()] : [...(this.byNamespace.get(namespace) ?? [])];
  }
}

function recorder(sink: (w: Write) => void): Actions {
  return {
    applyOwned: async (r, obj) => void sink({ what: `patch ${r.plural}`, run: (w) => w.applyOwned(r, obj) }),
    applyAnnotations: async (r, ref, annotations, opts) => void sink({ what: `patch ${r.plural}`, run: (w) => w.applyAnnotations(r, ref, annotations, opts) }),
    applyFinalizers: async (r, ref, finalizers) => void sink({ what: `patch ${r.plural}`, run: (w) => w.applyFinalizers(r, ref, finalizers) }),
    applyStatus: async (r, ns, name, status) => void sink({ what: `patch ${r.plural}/status`, run: (w) => w.applyStatus(r, ns, name, status) }),
    delete: async (r, ns, name, uid) => void sink({ what: `delete ${r.plural}`, run: (w) => w.delete(r, ns, name, uid) }),
    recordEvent: async (regarding, note) => {
      sink({ what: 'create events', run: (w) => w.recordEvent(regarding, note) });
      return undefined;
    },
  };
}

/** The writes of one cold reconcile of each policy in the namespaces, in the order the reconciler makes them. */
export async function recordColdWrites(client: KubeClient, namespaces: string[], settings: OperatorSettings): Promise<Write[][]> {
  const inNamespaces = async (r: (typeof Resources)[keyof typeof Resources]): Promise<KubeObject[]> =>
    (await Promise.all(namespaces.map((namespace) => listAll(client, r, { namespace })))).flat().map(slimObject);
  const [policies, ingresses, services] = await Promise.all([inNamespaces(Resources.policy), inNamespaces(Resources.ingress), inNamespaces(Resources.service)]);
  const empty = new MemoryStore<KubeObject>([]);
  const caches: Caches = {
    policies: new MemoryStore(policies as Policy[]),
    ingresses: new MemoryStore(ingresses),
    services: new MemoryStore(services),
    namespaces: new MemoryStore(namespaces.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } }))),
    networkPolicies: empty,
    configMaps: empty,
    baselines: empty,
    middlewares: empty,
    httpRoutes: empty,
    gateways: empty,
    gatewayClasses: empty,
    securityPolicies: empty,
    backendTrafficPolicies: empty,
    suspiciousEvents: empty,
    clientCAs: empty,
    apiKeySecrets: empty,
  };
  const all: Write[][] = [];
  let current: Write[] = [];
  const reconciler = new PolicyReconciler({ caches, actions: recorder((w) => current.push(w)), settings });
  const log = pino({ level: 'silent' });
  for (const p of policies) {
    current = [];
    const ctx: ReconcileContext = { log, clock: systemClock, writes: new WriteCounter(), signal: new AbortController().signal };
    await reconciler.reconcile(keyOf(p), ctx);
    if (!p.metadata.finalizers?.includes(FINALIZER) && !current.some((w) => w.what === 'patch apisecuritypolicies')) throw new Error(`no finalizer write recorded for ${keyOf(p)}`);
    all.push(current);
  }
  return all;
}

export interface BaselineResult {
  seconds: number;
  writes: number;
  writesByKind: Record<string, number>;
  writesPerSecond: number;
  concurrency: number;
}

/** Replays the recorded writes: `concurrency` policies at a time, each policy's writes in order. */
export async function replay(client: KubeClient, writes: Write[][], concurrency: number): Promise<BaselineResult> {
  const writer = new Writer(client);
  const byKind: Record<string, number> = {};
  for (const w of writes.flat()) byKind[w.what] = (byKind[w.what] ?? 0) + 1;
  const started = performance.now();
  await pooled(writes.length, concurrency, async (i) => {
    for (const w of writes[i]!) await w.run(writer);
  });
  const seconds = (performance.now() - started) / 1000;
  const total = writes.reduce((n, w) => n + w.length, 0);
  return { seconds, writes: total, writesByKind: byKind, writesPerSecond: total / seconds, concurrency };
}
