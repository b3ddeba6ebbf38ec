// Finding 5 of the security review, on the real API server: anyone may put the operator's managed-by label
// on objects of the kinds it generates, and every replica caches them (200 labelled 1 MiB ConfigMaps came
// to 286 MiB, past the chart's 256Mi limit). Now the caches keep a bounded form of those kinds (slim.ts):
// a tenant floods its namespace with labelled 900 KiB ConfigMaps (data and annotations) and NetworkPolicies
// with huge specs; each stays a few hundred bytes in the cache, the heap grows by far less than the flood,
// and the tenant's own sidecar policy converges and stays write-free (its ConfigMap compared by digest).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath } from '../../src/k8s/resources.ts';
import { policy, service } from '../support/fixtures.ts';
import { ALL_VERBS, apply, clientAs, createNamespace, eventually, grantTenant, installCrds, policyCondition } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};

const MiB = 1024 * 1024;
const CONFIGMAPS = 64;
const NETWORK_POLICIES = 8;
/** What the flood may add to the operator's heap: a few KiB per object plus noise, not the objects. */
const HEAP_BOUND = 16 * MiB;
const LABELS = { 'app.kubernetes.io/managed-by': 'api-security-operator', 'apisec.dev/policy': 'victim' };

describe('a tenant floods the caches with objects labelled as the operator\'s', () => {
  let admin: KubeClient;
  let tenant: KubeClient;
  let ns: string;
  let op: RunningOperator;

  beforeAll(async () => {
    admin = clientAs('admin');
    tenant = clientAs('tenant');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'flood');
    await grantTenant(admin, ns, [
      { apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies'], verbs: ALL_VERBS },
      { apiGroups: [''], resources: ['services', 'configmaps'], verbs: ALL_VERBS },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ALL_VERBS },
    ]);
    await apply(tenant, service(ns, 'api'));
    await apply(tenant, policy(ns, 'victim', { targetRefs: [{ group: '', kind: 'Service', name: 'api' }], rateLimit: { requestsPerSecond: 5 }, sidecar: { appPort: 8080 } }));
    op = await startOperator({ namespace: ns, resyncMs: 1000 });
  });

  afterAll(async () => {
    await op?.stop();
  });

  it(`${CONFIGMAPS} ConfigMaps of 900 KiB and ${NETWORK_POLICIES} NetworkPolicies of ~${Math.round((5000 * 40) / 1024)} KiB cost the heap less than ${HEAP_BOUND / MiB} MiB`, async () => {
    await eventually(async () => expect(policyCondition(await tenant.request<Parameters<typeof policyCondition>[0]>('GET', `${collectionPath(Resources.policy, ns)}/victim`, { verb: 'get' }), 'Enforced')).toMatchObject({ status: 'True' }), 20_000);
    await op.idle();
    const before = heapAfterGc();

    const filler = 'x'.repeat(600 * 1024);
    const note = 'n'.repeat(250 * 1024);
    for (let i = 0; i < CONFIGMAPS; i++) {
      await tenant.request('POST', collectionPath(Resources.configMap, ns), {
        verb: 'create',
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `flood-${i}`, labels: LABELS, annotations: { note } }, data: { filler } },
      });
    }
    const peers = Array.from({ length: 5000 }, (_, i) => ({ ipBlock: { cidr: `10.${Math.floor(i / 250)}.${i % 250}.0/24` } }));
    for (let i = 0; i < NETWORK_POLICIES; i++) {
      await tenant.request('POST', collectionPath(Resources.networkPolicy, ns), {
        verb: 'create',
        body: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `flood-${i}`, labels: LABELS }, spec: { podSelector: {}, ingress: [{ from: peers }] } },
      });
    }
    await eventually(async () => {
      expect(op.controller.informers.configMaps.list(ns).length).toBe(CONFIGMAPS + 1);
      expect(op.controller.informers.networkPolicies.list(ns).length).toBe(NETWORK_POLICIES);
    }, 60_000);
    const grown = heapAfterGc() - before;
    const flooded = CONFIGMAPS * (filler.length + note.length) + NETWORK_POLICIES * JSON.stringify(peers).length;
    process.stdout.write(`cache flood: ${(flooded / MiB).toFixed(0)} MiB written, heap grew ${(grown / MiB).toFixed(1)} MiB\n`);

    for (const o of [...op.controller.informers.configMaps.list(ns), ...op.controller.informers.networkPolicies.list(ns)]) {
      expect([o.metadata.name, JSON.stringify(o).length < 2048]).toEqual([o.metadata.name, true]);
    }
    expect(grown).toBeLessThan(HEAP_BOUND);
  }, 180_000);

  it('the policy that owns a real sidecar ConfigMap still converges and then writes nothing', async () => {
    await op.idle();
    const before = op.writes.length;
    await new Promise((r) => setTimeout(r, 5000)); // 5 resyncs of 1 s
    await op.idle();
    expect(op.writes.slice(before)).toEqual([]);
    expect(op.drifts).toEqual([]);
  }, 30_000);
});
