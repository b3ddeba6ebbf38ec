// Zero writes at steady state: once everything has converged, periodic re-reconciles and a restarted
// operator make no mutating request. Counted twice: by the operator's own client, and by the
// kube-apiserver audit log (when the test suite started the server itself).
import { readFileSync } from 'node:fs';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, type KubeObject } from '../../src/k8s/resources.ts';
import { identities } from '../support/controlplane.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';
import { ingress, policy, service } from '../support/fixtures.ts';

const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
}

/** Mutating requests by the operator's identity in the audit log after byte offset `from`. */
function auditedWrites(from: number): string[] {
  const path = controlPlane().auditLogPath;
  if (!path) return [];
  // Byte offsets: other tests write non-ASCII payloads into the log.
  const lines = readFileSync(path).subarray(from).toString('utf8').split('\n');
  lines.pop(); // the last line may still be being written
  return lines
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.stage === 'ResponseComplete' && e.user.username === identities.operator.user && MUTATING.has(e.verb))
    .filter((e) => e.objectRef?.resource !== 'leases') // leader-election renewals are expected traffic
    .map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name}`);
}

const auditSize = (): number => {
  const path = controlPlane().auditLogPath;
  if (!path) return 0;
  const buf = readFileSync(path);
  return buf.lastIndexOf(0x0a) + 1; // up to the last complete line
};

describe('steady state', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator | undefined;

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'steady');
    for (const n of ['orders', 'users', 'audit']) {
      await apply(admin, service(ns, n));
      await apply(admin, ingress(ns, n, n));
    }
    const base = { tls: { httpsOnly: true }, rateLimit: { requestsPerSecond: 10 }, network: { defaultDeny: true }, requestLimits: { maxBodySize: '64Ki' } };
    await apply(admin, policy(ns, 'orders', { ...base, targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'orders' }] }));
    await apply(admin, policy(ns, 'users', { ...base, targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'users' }, { group: '', kind: 'Service', name: 'users' }] }));
    await apply(admin, policy(ns, 'audit', { ...base, mode: 'Audit', targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'audit' }] }));
    await apply(admin, policy(ns, 'missing', { ...base, targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'not-there' }] }));
    await apply(admin, policy(ns, 'rival', { ...base, targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'orders' }] }));
  });

  afterAll(async () => {
    await op?.stop();
  });

  const converged = async (): Promise<void> => {
    const list = await admin.request<{ items: (KubeObject & { status?: { observedGeneration?: number } })[] }>('GET', collectionPath(Resources.policy, ns), { verb: 'list' });
    expect(list.items).toHaveLength(5);
    for (const p of list.items) expect(p.status?.observedGeneration).toBe(p.metadata.generation);
  };

  it('makes no mutating request in 30 s of converged idling, across periodic re-checks', async () => {
    op = await startOperator({ namespace: ns, resyncMs: 3000 });
    await eventually(converged, 20_000);
    await op.idle();
    const clientBefore = op.writes.length;
    const auditBefore = auditSize();
    const reconcilesBefore = op.reconciles;
    await new Promise((r) => setTimeout(r, 30_000));
    expect(op.writes.slice(clientBefore)).toEqual([]);
    expect(auditedWrites(auditBefore)).toEqual([]);
    // The window was not idle for lack of work: every policy was re-checked several times.
    expect(op.reconciles - reconcilesBefore).toBeGreaterThanOrEqual(5 * 5);
  }, 90_000);

  it('a restarted operator re-reconciles everything and writes nothing', async () => {
    await op?.stop();
    const auditBefore = auditSize();
    op = await startOperator({ namespace: ns });
    await eventually(async () => expect(op?.reconciles).toBeGreaterThanOrEqual(5), 15_000);
    await op.idle();
    expect(op.writes).toEqual([]);
    expect(auditedWrites(auditBefore)).toEqual([]);
  }, 60_000);

  it('the audit log does see the operator\'s writes (the counter can fail)', async () => {
    if (!controlPlane().auditLogPath) return;
    const auditBefore = auditSize();
    await apply(admin, policy(ns, 'orders', { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'orders' }], rateLimit: { requestsPerSecond: 11 } }));
    await eventually(async () => expect(auditedWrites(auditBefore).some((w) => w.startsWith('patch ingresses/orders'))).toBe(true));
  });
});
