import { pino } from 'pino';
import type { KubeClient } from '../k8s/client.ts';
import { ApiError } from '../k8s/errors.ts';
import type { Handler } from '../k8s/informer.ts';
import { keyOf, type KubeObject } from '../k8s/resources.ts';
import { INVENTORY_KEY } from './inventory.ts';
import { ReportsController, type ReportActions, type Source } from './reports.ts';

class Store implements Source {
  readonly items = new Map<string, KubeObject>();
  private readonly handlers: Handler<KubeObject>[] = [];
  get(key: string): KubeObject | undefined {
    return this.items.get(key);
  }
  list(namespace?: string): KubeObject[] {
    return [...this.items.values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace);
  }
  on(handler: Handler<KubeObject>): void {
    this.handlers.push(handler);
  }
  put(o: KubeObject): void {
    this.items.set(keyOf(o), o);
    for (const h of this.handlers) h(o, 'upsert');
  }
  remove(key: string): void {
    const o = this.items.get(key);
    this.items.delete(key);
    if (o) for (const h of this.handlers) h(o, 'delete');
  }
}

const ing = (ns: string, name: string, uid = `uid-${name}`): KubeObject => ({
  metadata: { name, namespace: ns, uid },
  spec: { rules: [{ host: `${name}.example.com`, http: { paths: [{ path: '/', backend: { service: { name } } }] } }] },
});
const pol = (ns: string, name: string, ingress: string): KubeObject => ({
  metadata: { name, namespace: ns },
  spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: ingress }] },
});

/** A cluster without the PolicyReport API: discovery answers 404, so only the inventory runs. */
const noReportsClient = { request: () => Promise.reject(new ApiError('GET /apis/wgpolicyk8s.io/v1alpha2: 404', 404, 'NotFound')) } as unknown as KubeClient;

function setup(): { reports: ReportsController; events: string[]; policies: Store; ingresses: Store; services: Store; idle: () => Promise<void> } {
  const events: string[] = [];
  // A class, as the Writer is: its methods need their `this`.
  class Recorder implements ReportActions {
    readonly seen = events;
    applyOwned(): Promise<unknown> {
      return Promise.reject(new Error('no reports expected'));
    }
    delete(): Promise<void> {
      return Promise.reject(new Error('no reports expected'));
    }
    recordEvent(...[regarding, { type, reason }]: Parameters<ReportActions['recordEvent']>): Promise<Error | undefined> {
      this.seen.push(`${type} ${reason} ${regarding.namespace}/${regarding.name}`);
      return Promise.resolve(undefined);
    }
  }
  const actions = new Recorder();
  const [policies, ingresses, services] = [new Store(), new Store(), new Store()];
  const reports = new ReportsController({ client: noReportsClient, actions, log: pino({ level: 'silent' }), sources: { policies, ingresses, services }, inventoryDelayMs: 5, rediscoverMs: 0 });
  const idle = async (): Promise<void> => {
    for (let quiet = 0; quiet < 5; ) {
      await new Promise((r) => setTimeout(r, 10));
      quiet = reports.quiet ? quiet + 1 : 0;
    }
  };
  return { reports, events, policies, ingresses, services, idle };
}

describe('ReportsController without the PolicyReport API', () => {
  it('runs the inventory: metrics from the last pass, every coverage value present', async () => {
    const { reports, ingresses, services, policies, idle } = setup();
    ingresses.put(ing('a', 'open'));
    ingresses.put(ing('a', 'covered'));
    policies.put(pol('a', 'p', 'covered'));
    services.put({ metadata: { name: 'lb', namespace: 'b' }, spec: { type: 'LoadBalancer' } });
    expect(reports.coverageSamples()).toEqual([
      { labels: { coverage: 'policy' }, value: 0 },
      { labels: { coverage: 'baseline' }, value: 0 },
      { labels: { coverage: 'none' }, value: 0 },
    ]);
    reports.start();
    expect(await reports.settled).toBe('disabled');
    await idle();
    expect(reports.uncoveredSamples()).toEqual([
      { labels: { namespace: 'a', kind: 'Ingress' }, value: 1 },
      { labels: { namespace: 'b', kind: 'Service' }, value: 1 },
    ]);
    expect(reports.coverageSamples().map((s) => s.value)).toEqual([1, 0, 2]);
    await reports.stop();
  });

  it('announces an Ingress once when it becomes uncovered, again only after it was covered in between', async () => {
    const { reports, events, ingresses, policies, idle } = setup();
    ingresses.put(ing('a', 'open'));
    reports.start();
    await idle();
    expect(events).toEqual(['Warning UncoveredAPI a/open']);
    // Unrelated changes and resyncs do not repeat it.
    ingresses.put(ing('a', 'open'));
    reports.resyncAll();
    await idle();
    expect(events).toHaveLength(1);
    // Covered, then uncovered again: it re-enters the set.
    policies.put(pol('a', 'p', 'open'));
    await idle();
    policies.remove('a/p');
    await idle();
    expect(events).toEqual(['Warning UncoveredAPI a/open', 'Warning UncoveredAPI a/open']);
    // A re-created Ingress (new uid) is a new API.
    ingresses.remove('a/open');
    ingresses.put(ing('a', 'open', 'uid-2'));
    await idle();
    expect(events).toHaveLength(3);
    await reports.stop();
  });

  it('sends at most 20 Events per pass, the rest in the next passes', async () => {
    const { reports, events, ingresses, idle } = setup();
    for (let i = 0; i < 45; i++) ingresses.put(ing('a', `api-${i}`));
    let passes = 0;
    const counts: number[] = [];
    const queue = reports.inventory.queue;
    const orig = queue.get.bind(queue);
    queue.get = async () => {
      const k = await orig();
      if (k === INVENTORY_KEY) {
        passes++;
        counts.push(events.length);
      }
      return k;
    };
    reports.start();
    await idle();
    expect(events).toHaveLength(45);
    expect(new Set(events).size).toBe(45);
    expect(passes).toBe(3);
    expect(counts).toEqual([0, 20, 40]);
    await reports.stop();
  });
});

describe('ReportsController inventory window', () => {
  it('waits at least 10× the last pass after a change (at most 30 s), so big inventories do not hold the event loop', async () => {
    const { reports, ingresses, idle } = setup();
    reports.start();
    await reports.settled;
    await idle();
    const inventory = (reports as unknown as { inventoryReconciler: { lastPassMs: number } }).inventoryReconciler;
    inventory.lastPassMs = 200;
    ingresses.put(ing('a', 'slow'));
    // The next pass is scheduled 2 s out, not after the 5 ms window.
    await new Promise((r) => setTimeout(r, 100));
    expect(reports.inventory.queue.scheduled).toBe(1);
    expect(reports.uncoveredSamples()).toEqual([]);
    await reports.stop();
  });
});
