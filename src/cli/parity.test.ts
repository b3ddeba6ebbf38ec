// `apisec check` and `apisec render` say what the operator does: the same inputs through the real
// PolicyReconciler (in-memory caches, recorded writes) give the same status results and the same writes.
import { API_KEYS_USE, CLIENT_CA_USE, consents, type SecretUse } from '../compliance/secret-consent.ts';
import type { ApiSecurityPolicyStatus } from '../api/v1alpha1.ts';
import type { Actions, Caches, Store } from '../controller/deps.ts';
import { BaselineReconciler, selectBaselines } from '../controller/baseline.ts';
import { inventoryOf } from '../controller/inventory.ts';
import { PendingWrites } from '../controller/pending.ts';
import { FINALIZER, PolicyReconciler } from '../controller/policy.ts';
import { FIELD_MANAGER } from '../k8s/client.ts';
import { TerminalError } from '../k8s/errors.ts';
import type { KubeObject } from '../k8s/resources.ts';
import { defaultSettings } from '../render/types.ts';
import { reconcileContext, store } from '../../test/support/builders.ts';
import { repoRoot } from '../../test/support/golden.ts';
import { assessInventory, check } from './check.ts';
import { parseDocuments } from './documents.ts';
import { buildInventory, type Inventory } from './inventory.ts';
import { readSources } from './io.ts';
import { writtenObjects } from './render-output.ts';
import { buildReport } from './report.ts';

interface Recorded {
  status: Map<string, ApiSecurityPolicyStatus>;
  writes: { policy: string; object: Record<string, unknown> }[];
}

/** Reconciles every policy once, from empty generated state, and records what it writes. */
async function operatorOn(inv: Inventory): Promise<Recorded> {
  const policies = inv.policies.map(({ object }) => ({
    apiVersion: 'apisec.dev/v1alpha1',
    kind: 'ApiSecurityPolicy',
    ...object,
    metadata: { ...object.metadata, uid: object.metadata.uid ?? '', generation: 1, finalizers: [FINALIZER] },
  })) as unknown as KubeObject[];
  const rec: Recorded = { status: new Map(), writes: [] };
  let current = '';
  // Only the writes matter here; every other action (events, finalizers, deletes) is a no-op.
  const actions = new Proxy({} as Record<string, unknown>, {
    get: (_t, prop) => async (...args: unknown[]) => {
      if (prop === 'applyStatus') rec.status.set(current, args[3] as ApiSecurityPolicyStatus);
      if (prop === 'applyOwned') rec.writes.push({ policy: current, object: args[1] as Record<string, unknown> });
      if (prop === 'applyAnnotations') {
        const [, { namespace, name }, annotations] = args as [unknown, { namespace: string; name: string }, Record<string, string>];
        if (Object.keys(annotations).length) rec.writes.push({ policy: current, object: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace, annotations } } });
      }
      return undefined;
    },
  }) as unknown as Actions;
  const known: Record<string, Store<KubeObject>> = {
    policies: store(policies),
    ingresses: store(inv.ingresses.map((i) => i.object as KubeObject)),
    services: store(inv.services.map((s) => s.object as KubeObject)),
    clientCAs: store(labelledSecrets(inv)),
    apiKeySecrets: store(labelledSecrets(inv, API_KEYS_USE)),
  };
  // Every other cache the reconciler reads (generated objects, namespaces, baselines, ...) starts empty.
  const caches = new Proxy(known, { get: (t, prop: string) => t[prop] ?? store([]) }) as unknown as Caches;
  const reconciler = new PolicyReconciler({ caches, actions, settings: defaultSettings });
  for (const p of [...policies].sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`))) {
    current = `${p.metadata.namespace}/${p.metadata.name}`;
    await reconciler.reconcile(`${p.metadata.namespace}/${p.metadata.name}`, reconcileContext()).catch((err: unknown) => {
      if (!(err instanceof TerminalError)) throw err; // refused specs have their status written
    });
  }
  return rec;
}

/**
 * The Secrets that consent to `use`, as the operator's label-selected watch sees them: those of the files
 * with the label, and those the policies name but the files do not hold (apisec check cannot know them,
 * so it assesses such a policy; the cluster here is taken to agree).
 */
function labelledSecrets(inv: Inventory, use: SecretUse = CLIENT_CA_USE): KubeObject[] {
  const held = inv.secrets.map((s) => s.object as KubeObject);
  const named = inv.policies.flatMap((p) => {
    const name = use.secret((p.object.spec ?? {}) as Parameters<SecretUse['secret']>[0]);
    const ns = p.object.metadata.namespace ?? 'default';
    return name && !held.some((s) => s.metadata.name === name && s.metadata.namespace === ns) ? [{ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns } } as KubeObject] : [];
  });
  return [...held.filter((s) => consents(use, s.metadata.labels)), ...named];
}

async function readInventory(paths: string[], extra = ''): Promise<Inventory> {
  const sources = await readSources(paths, { cwd: repoRoot, readStdin: async () => '', stdinName: 'stdin' });
  if (extra) sources.push({ file: 'extra.yaml', text: extra });
  return buildInventory(sources.flatMap(parseDocuments), 'default');
}

// A sidecar policy, so that every kind of generated object the renderers know is compared.
const SIDECAR = `apiVersion: apisec.dev/v1alpha1
kind: ApiSecurityPolicy
metadata: { name: sidecar-api, namespace: side }
spec:
  targetRefs: [{ group: "", kind: Service, name: side }]
  rateLimit: { requestsPerSecond: 5 }
  requestLimits: { maxBodySize: 1Mi, allowedMethods: [GET, POST] }
  network: { defaultDeny: true }
  sidecar: { appPort: 3000 }
---
apiVersion: v1
kind: Service
metadata: { name: side, namespace: side }
spec: { selector: { app: side }, ports: [{ port: 80, targetPort: 8080 }] }
`;

describe('the CLI agrees with the operator', () => {
  it.each([
    ['examples', ['examples']],
    ['conflicts, missing targets, unknown classes', ['test/fixtures/cli/mixed.yaml']],
  ])('on %s (and a sidecar policy)', async (_name, paths) => {
    const inv = await readInventory(paths, SIDECAR);
    const operator = await operatorOn(inv);

    const cli = check(inv, defaultSettings);
    expect(cli.errors).toEqual([]);
    expect(cli.policies.length).toBe(operator.status.size);
    for (const p of cli.policies) {
      const status = operator.status.get(`${p.namespace}/${p.name}`);
      expect({ policy: `${p.namespace}/${p.name}`, score: p.score, violations: p.violations, controls: p.controls, targets: p.targets }).toEqual({
        policy: `${p.namespace}/${p.name}`,
        score: status?.score,
        violations: status?.violations,
        controls: status?.controls,
        targets: status?.targets,
      });
    }

    const { objects } = writtenObjects(assessInventory(inv, defaultSettings).assessed);
    const key = (w: { policy: string; object: Record<string, unknown> }): string => `${w.policy} ${String(w.object.kind)} ${(w.object.metadata as { name: string }).name}`;
    const sort = <T extends { policy: string; object: Record<string, unknown> }>(xs: T[]): T[] => [...xs].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sort(objects)).toEqual(sort(operator.writes));
    expect(objects.some((o) => o.object.kind === 'ConfigMap')).toBe(true);
  });
});

// ---- coverage: the operator, `apisec check` and `apisec report` agree on what is covered ----

// A protecting baseline on the production namespaces, an uncovered Ingress in a protected namespace and one
// in an unprotected one, a NodePort Service, and Ingresses whose only policy is invalid (it covers nothing).
const COVERAGE = `apiVersion: apisec.dev/v1alpha1
kind: ClusterApiSecurityPolicy
metadata: { name: protect-production, creationTimestamp: "2026-03-01T00:00:00Z" }
spec:
  namespaceSelector: { matchLabels: { tier: production } }
  protectUncovered: true
  floors: { tls: { httpsOnly: true }, rateLimit: { requestsPerSecond: 50 } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: admin, namespace: shop }
spec:
  ingressClassName: nginx
  rules: [{ host: admin.shop.example.com, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: catalog, port: { number: 80 } } } }] } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: stray, namespace: partners }
spec:
  ingressClassName: nginx
  rules: [{ host: stray.example.com, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: partner-api, port: { number: 80 } } } }] } }]
---
apiVersion: v1
kind: Service
metadata: { name: debug, namespace: partners }
spec: { type: NodePort, selector: { app: debug }, ports: [{ port: 9000 }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: broken, namespace: billing }
spec:
  ingressClassName: nginx
  rules: [{ host: broken.example.com, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: ledger, port: { number: 80 } } } }] } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: broken, namespace: partners }
spec:
  ingressClassName: nginx
  rules: [{ host: broken.partners.example.com, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: partner-api, port: { number: 80 } } } }] } }]
---
apiVersion: apisec.dev/v1alpha1
kind: ApiSecurityPolicy
metadata: { name: broken-api, namespace: billing, creationTimestamp: "2025-01-01T00:00:00Z" }
spec:
  targetRefs: [{ group: networking.k8s.io, kind: Ingress, name: broken }]
  rateLimit: { requestsPerSecond: -1 }
---
apiVersion: apisec.dev/v1alpha1
kind: ApiSecurityPolicy
metadata: { name: broken-api, namespace: partners, creationTimestamp: "2025-01-01T00:00:00Z" }
spec:
  targetRefs: [{ group: networking.k8s.io, kind: Ingress, name: broken }]
  rateLimit: { requestsPerSecond: -1 }
`;

/** A mutable cache keyed namespace/name (or name), with server-side apply of our annotation keys. */
class MemoryCache {
  readonly items = new Map<string, KubeObject>();
  constructor(objects: KubeObject[]) {
    for (const o of objects) this.items.set(o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name, structuredClone(o));
  }
  get = (key: string): KubeObject | undefined => this.items.get(key);
  list = (ns?: string): KubeObject[] => [...this.items.values()].filter((i) => ns === undefined || i.metadata.namespace === ns);
  /** Apply by our field manager: the keys it owned and no longer sends are removed, the rest kept. */
  applyAnnotations(namespace: string, name: string, want: Record<string, string>): void {
    const o = this.items.get(`${namespace}/${name}`);
    if (!o) return;
    const before = (o.metadata.managedFields ?? []).find((m) => m.manager === FIELD_MANAGER);
    const owned = Object.keys((before?.fieldsV1?.['f:metadata'] as { 'f:annotations'?: Record<string, unknown> } | undefined)?.['f:annotations'] ?? {}).map((k) => k.slice(2));
    const annotations = { ...o.metadata.annotations };
    for (const k of owned) delete annotations[k];
    Object.assign(annotations, want);
    o.metadata.annotations = annotations;
    const others = (o.metadata.managedFields ?? []).filter((m) => m.manager !== FIELD_MANAGER);
    const mine = Object.keys(want).length ? [{ manager: FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': Object.fromEntries(Object.keys(want).map((k) => [`f:${k}`, {}])) } } }] : [];
    o.metadata.managedFields = [...others, ...mine];
  }
}

/** The operator on the inventory: every policy, then every baseline, reconciled until nothing changes. */
async function operatorState(inv: Inventory): Promise<{ caches: Caches; policies: MemoryCache }> {
  const obj = <T>(items: { object: T }[]): KubeObject[] => items.map((i) => i.object as unknown as KubeObject);
  const policies = new MemoryCache(
    obj(inv.policies).map((p) => ({ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', ...p, metadata: { ...p.metadata, uid: `uid-${p.metadata.name}`, generation: 1, finalizers: [FINALIZER] } })),
  );
  const ingresses = new MemoryCache(obj(inv.ingresses));
  const caches = {
    policies,
    ingresses,
    services: new MemoryCache(obj(inv.services)),
    namespaces: new MemoryCache(obj(inv.namespaces)),
    baselines: new MemoryCache(obj(inv.baselines)),
    networkPolicies: store([]),
    configMaps: store([]),
    middlewares: store([]),
    suspiciousEvents: store([]),
    clientCAs: store(labelledSecrets(inv)),
    apiKeySecrets: store(labelledSecrets(inv, API_KEYS_USE)),
    httpRoutes: store([]),
    gateways: store([]),
    gatewayClasses: store([]),
    securityPolicies: store([]),
    backendTrafficPolicies: store([]),
  } as unknown as Caches;
  const actions: Actions = {
    applyOwned: async () => undefined,
    applyAnnotations: async (_r, { namespace: ns, name }, want) => void ingresses.applyAnnotations(ns, name, want),
    applyFinalizers: async () => undefined,
    applyStatus: async (r, ns, name, status) => {
      const o = (r.kind === 'ApiSecurityPolicy' ? policies : (caches.baselines as unknown as MemoryCache)).get(ns ? `${ns}/${name}` : name);
      if (o) o.status = status;
    },
    delete: async () => undefined,
    recordEvent: async () => undefined,
  };
  const pending = new PendingWrites();
  const policy = new PolicyReconciler({ caches, actions, settings: defaultSettings, pending });
  const baseline = new BaselineReconciler({ caches, actions, settings: defaultSettings, pending });
  const refused = (err: unknown): void => {
    if (!(err instanceof TerminalError)) throw err;
  };
  for (let pass = 0; pass < 2; pass++) {
    for (const p of policies.list()) await policy.reconcile(`${p.metadata.namespace}/${p.metadata.name}`, reconcileContext()).catch(refused);
    for (const b of caches.baselines.list()) await baseline.reconcile(b.metadata.name, reconcileContext());
  }
  return { caches, policies };
}

describe('operator, apisec check and apisec report agree on coverage', () => {
  it.each([
    ['examples, a protecting baseline, uncovered APIs and invalid policies', ['examples'], COVERAGE],
    ['conflicts, missing targets, unknown classes', ['test/fixtures/cli/mixed.yaml'], ''],
  ])('on %s', async (_name, paths, extra) => {
    const inv = await readInventory(paths, extra);
    const { caches, policies } = await operatorState(inv);
    const id = (e: { namespace: string; kind: string; name: string }): string => `${e.namespace}/${e.kind}/${e.name}`;
    const baselineFor = (ns: string): string | undefined => selectBaselines(caches, ns).map((b) => b.name).sort()[0];

    const operator = inventoryOf(caches, baselineFor);
    const operatorUncovered = operator.filter((e) => e.coverage === 'none').map(id).sort();
    const cliUncovered = check(inv, defaultSettings).uncovered.map(id).sort();
    const report = buildReport(policies.list() as never, caches.ingresses.list() as never, caches.services.list() as never);
    const reportUncovered = [...new Set(report.rows.filter((r) => r.policy === null).map((r) => `${r.namespace}/${r.target.kind}/${r.target.name}`))].sort();
    expect(cliUncovered).toEqual(operatorUncovered);
    expect(reportUncovered).toEqual(operatorUncovered);
    if (extra) {
      // What the fixture is for: each case is decided, not just agreed on.
      expect(operatorUncovered).toEqual(['partners/Ingress/broken', 'partners/Ingress/stray', 'partners/Service/debug']);
      expect(operator.filter((e) => e.coverage === 'baseline').map(id).sort()).toEqual(['billing/Ingress/broken', 'shop/Ingress/admin']);
    }
    // Who governs each exposed API the report lists as governed: the same policy the operator decided.
    const decided = new Map(operator.map((e) => [id(e), e.coverage === 'policy' ? `policy ${e.policy}` : e.coverage]));
    const governed = report.rows.filter((r) => r.policy !== null && r.problem === undefined && decided.has(`${r.namespace}/${r.target.kind}/${r.target.name}`));
    expect(governed.length).toBeGreaterThan(0);
    for (const r of governed) {
      const key = `${r.namespace}/${r.target.kind}/${r.target.name}`;
      expect(`${key}: ${decided.get(key)}`).toBe(`${key}: policy ${r.policy}`);
    }
  });
});
