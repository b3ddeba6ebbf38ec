// The guard's brute-force reports reach the policy's status: a SuspiciousActivity Event that the guard
// labelled (src/guard/main.ts) makes the operator, reading only such Events from its cache, set
// SuspiciousActivity=True on the policy, naming the report. An unlabelled Event of the same reason is
// not read (the operator caches no other Event), and a quiet policy gets no such condition.
import { Writer } from '../../src/k8s/apply.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { LABEL_EVENT, SUSPICIOUS_ACTIVITY } from '../../src/render/labels.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, clientAs, createNamespace, eventually, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Status = { conditions?: { type: string; status: string; reason: string; message: string }[] };

describe("the guard's SuspiciousActivity reports in policy status", () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;
  const spec = (name: string): Record<string, unknown> => ({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name }], rateLimit: { requestsPerSecond: 5 } });
  const statusOf = async (name: string): Promise<Status> => ((await admin.request<KubeObject>('GET', objectPath(Resources.policy, ns, name), { verb: 'get' })).status ?? {}) as Status;
  const suspicious = async (name: string): Promise<Status['conditions']> => (await statusOf(name)).conditions?.filter((c) => c.type === 'SuspiciousActivity');

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'suspicious');
    for (const name of ['attacked', 'quiet']) {
      await apply(admin, service(ns, name));
      await apply(admin, ingress(ns, name, name));
      await apply(admin, policy(ns, name, spec(name)));
    }
    op = await startOperator({ namespace: ns });
  });

  afterAll(async () => {
    await op?.stop();
  });

  it('sets SuspiciousActivity=True naming the report, and only for the policy the labelled Event is about', async () => {
    await eventually(async () => expect((await statusOf('attacked')).conditions?.find((c) => c.type === 'Enforced')?.status).toBe('True'), 20_000);
    const guard = new Writer(admin, 'apisec-guard');
    const regarding = (name: string) => ({ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name, namespace: ns });
    const note = '25 failed authentications from 203.0.113.9 within 60s (brute force or credential stuffing?)';
    // An unlabelled Event of the same reason is not the guard's report: the operator does not read it.
    expect(await guard.recordEvent(regarding('quiet'), { type: 'Warning', reason: 'SuspiciousActivity', note, action: 'Authenticate' })).toBeUndefined();
    expect(await guard.recordEvent(regarding('attacked'), { type: 'Warning', reason: 'SuspiciousActivity', note, action: 'Authenticate', labels: { [LABEL_EVENT]: SUSPICIOUS_ACTIVITY } })).toBeUndefined();
    await eventually(async () => {
      const [c] = (await suspicious('attacked')) ?? [];
      expect(c).toMatchObject({ status: 'True', reason: 'RepeatedAuthenticationFailures' });
      expect(c?.message).toContain(note);
    }, 20_000);
    await op.idle();
    expect(await suspicious('quiet')).toEqual([]);
  }, 60_000);
});
