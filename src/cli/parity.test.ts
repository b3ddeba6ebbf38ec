// `apisec check` and `apisec render` say what the operator does: the same inputs through the real
// PolicyReconciler (in-memory caches, recorded writes) give the same status results and the same writes.
import type { ApiSecurityPolicyStatus } from '../api/v1alpha1.ts';
import type { Actions, Caches, Store } from '../controller/deps.ts';
import { FINALIZER, PolicyReconciler } from '../controller/policy.ts';
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
        const [, namespace, name, annotations] = args as [unknown, string, string, Record<string, string>];
        if (Object.keys(annotations).length) rec.writes.push({ policy: current, object: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace, annotations } } });
      }
      return undefined;
    },
  }) as unknown as Actions;
  const known: Record<string, Store<KubeObject>> = {
    policies: store(policies),
    ingresses: store(inv.ingresses.map((i) => i.object as KubeObject)),
    services: store(inv.services.map((s) => s.object as KubeObject)),
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

async function inventoryOf(paths: string[], extra = ''): Promise<Inventory> {
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
    const inv = await inventoryOf(paths, SIDECAR);
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
