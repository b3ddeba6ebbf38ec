// Drift against a real API server: a hand edit of an operator-owned annotation and a deleted generated
// NetworkPolicy are detected within seconds, reported (Drifted condition naming the field, an Event)
// and repaired; another writer that keeps fighting is detected and repairs pause instead of looping.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import { RepairBudget } from '../../src/controller/drift.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, getOrUndefined, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const RPS = 'nginx.ingress.kubernetes.io/limit-rps';

describe('drift', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;

  const getPolicy = (name: string): Promise<Policy | undefined> => getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, name));
  const drifted = async (name: string): Promise<{ status: string; reason: string; message: string } | undefined> =>
    (await getPolicy(name))?.status?.conditions?.find((c) => c.type === 'Drifted');
  const ingressAnnotations = async (name: string): Promise<Record<string, string>> =>
    (await admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, name), { verb: 'get' })).metadata.annotations ?? {};
  /** A hand edit as kubectl edit/annotate does it: a merge patch, as another field manager. */
  const tamper = (name: string, value: string, manager = 'kubectl-edit'): Promise<unknown> =>
    admin.request('PATCH', objectPath(Resources.ingress, ns, name), {
      verb: 'patch',
      query: { fieldManager: manager },
      body: { metadata: { annotations: { [RPS]: value } } },
      contentType: 'application/merge-patch+json',
    });
  const converged = async (name: string): Promise<void> => {
    await eventually(async () => {
      const p = await getPolicy(name);
      expect(p?.status?.observedGeneration).toBe(p?.metadata.generation);
      expect(p?.status?.appliedDigest).toBeDefined();
    });
    await op.idle();
  };

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'drift');
    for (const n of ['api', 'fought']) {
      await apply(admin, service(ns, n));
      await apply(admin, ingress(ns, n, n));
      await apply(admin, policy(ns, n, { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: n }], rateLimit: { requestsPerSecond: 50 }, network: { defaultDeny: true } }));
    }
    op = await startOperator({ namespace: ns, repairBudget: new RepairBudget(3, 60_000) });
    await converged('api');
    await converged('fought');
  });

  afterAll(async () => {
    await op?.stop();
  });

  it('starts with no drift', async () => {
    expect(await drifted('api')).toMatchObject({ status: 'False', reason: 'NoDrift' });
  });

  it('restores a hand-edited annotation and reports it with the field and the editor', async () => {
    await tamper('api', '100000');
    await eventually(async () => expect((await ingressAnnotations('api'))[RPS]).toBe('50'));
    const cond = await eventually(async () => {
      const c = await drifted('api');
      expect(c).toMatchObject({ status: 'True', reason: 'DriftRepaired' });
      return c;
    });
    expect(cond?.message).toContain(`Ingress/api annotation ${RPS}`);
    expect(cond?.message).toContain('kubectl-edit');
    expect(op.drifts).toContain('repaired Ingress');
    const events = await admin.request<{ items: { reason: string; note: string; regarding: { name: string } }[] }>('GET', collectionPath(Resources.event, ns), { verb: 'list' });
    expect(events.items.some((e) => e.reason === 'DriftRepaired' && e.regarding.name === 'api' && e.note.includes(RPS))).toBe(true);
  });

  it('recreates a deleted NetworkPolicy', async () => {
    const nps = await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.networkPolicy, ns), { verb: 'list' });
    const np = nps.items.find((n) => n.metadata.labels?.['apisec.dev/policy'] === 'api');
    expect(np).toBeDefined();
    await admin.request('DELETE', objectPath(Resources.networkPolicy, ns, np!.metadata.name), { verb: 'delete' });
    await eventually(async () => {
      const again = await getOrUndefined<KubeObject>(admin, objectPath(Resources.networkPolicy, ns, np!.metadata.name));
      expect(again).toBeDefined();
      expect(again?.metadata.uid).not.toBe(np!.metadata.uid);
    });
    await eventually(async () => expect((await drifted('api'))?.message).toContain(`NetworkPolicy/${np!.metadata.name} deleted`));
  });

  it('does not report the operator\'s own spec-driven changes as drift', async () => {
    const before = op.drifts.length;
    await apply(admin, policy(ns, 'api', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }], rateLimit: { requestsPerSecond: 60 }, network: { defaultDeny: true } }));
    await eventually(async () => expect((await ingressAnnotations('api'))[RPS]).toBe('60'));
    await converged('api');
    expect(op.drifts.length).toBe(before);
    // A new generation clears the sticky Drifted condition.
    expect(await drifted('api')).toMatchObject({ status: 'False', reason: 'NoDrift' });
  });

  it('detects a fight with another writer and stops repairing instead of looping', async () => {
    // The other writer changes the value back each time; bounded to 5 rounds.
    let paused = false;
    for (let round = 0; round < 5 && !paused; round++) {
      await tamper('fought', String(1000 + round), 'rogue-controller');
      await new Promise((r) => setTimeout(r, 1500));
      paused = (await drifted('fought'))?.reason === 'FightDetected';
    }
    expect(paused).toBe(true);
    const cond = await drifted('fought');
    expect(cond?.message).toContain('rogue-controller');
    // Paused: the rogue value stays, and the operator is not writing in a loop.
    const writesBefore = op.writes.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect((await ingressAnnotations('fought'))[RPS]).toMatch(/^100\d$/);
    expect(op.writes.length - writesBefore).toBeLessThanOrEqual(1);
    expect(op.drifts).toContain('paused Ingress');
  }, 30_000);
});
