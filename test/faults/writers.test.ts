// Other writers, against this file's own control plane: a competing controller that keeps changing what
// the operator owns (an Ingress annotation and the generated NetworkPolicy's rules), and writes the API
// server refuses persistently (ValidatingAdmissionPolicies that deny the operator's NetworkPolicy of one
// policy, and the finalizer of another). The operator must not fight, must say so where a user looks
// (condition, Event, metric), keep its writes bounded (counted in the audit log by its User-Agent), show a
// reconcile that keeps failing as Enforced=Unknown with a reason naming the error, and converge once the
// refusals end. Figures are printed as `faults (writers)`.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { connect } from '../../src/k8s/connect.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { identities, stopControlPlane, type ControlPlaneInfo } from '../support/controlplane.ts';
import { operatorWrites, startFaultCluster } from '../support/fault-cluster.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { apply, eventually, getOrUndefined } from '../support/kube.ts';
import { metricSum, spawnOperator, type OperatorProcess } from '../support/operator-process.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const RPS = 'nginx.ingress.kubernetes.io/limit-rps';
const ROUNDS = 20;
const report: Record<string, unknown> = {};

describe('other writers', () => {
  let cp: ControlPlaneInfo;
  let admin: KubeClient;
  let ns: string;
  let op: OperatorProcess;

  const spec = (name: string) => ({ targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name }], provider: 'ingress-nginx', rateLimit: { requestsPerSecond: 50 }, network: { defaultDeny: true } });
  const getPolicy = (name: string): Promise<Policy | undefined> => getOrUndefined<Policy>(admin, objectPath(Resources.policy, ns, name));
  const condition = async (name: string, type: string) => (await getPolicy(name))?.status?.conditions?.find((c) => c.type === type);
  const conditionBecomes = (name: string, type: string, want: { status: string; reason: string }) =>
    eventually(async () => {
      const c = await condition(name, type);
      expect(c).toMatchObject(want);
      return c;
    }, 60_000, 500);
  const enforcedNow = (p: Policy | undefined): boolean => p?.status?.observedGeneration === p?.metadata.generation && p?.status?.conditions?.some((c) => c.type === 'Enforced' && c.status === 'True') === true;
  const networkPolicyOf = async (owner: string): Promise<KubeObject | undefined> =>
    (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.networkPolicy, ns), { verb: 'list' })).items.find((o) => o.metadata.ownerReferences?.[0]?.name === owner);
  const events = async (name: string, reason: string): Promise<number> =>
    (await admin.request<{ items: { reason: string; regarding?: { name?: string } }[] }>('GET', collectionPath(Resources.event, ns), { verb: 'list' })).items.filter((e) => e.reason === reason && e.regarding?.name === name).length;
  const mergePatch = (path: string, body: unknown, fieldManager: string): Promise<unknown> => admin.request('PATCH', path, { verb: 'patch', query: { fieldManager }, body, contentType: 'application/merge-patch+json' });

  /** A ValidatingAdmissionPolicy and its binding that deny the operator's writes to `resource` of objects labelled `label`. */
  const denyOperator = async (name: string, resource: { group: string; plural: string }, label: Record<string, string>, reason: 'Forbidden' | 'Invalid'): Promise<void> => {
    await apply(admin, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [resource.group], apiVersions: ['*'], resources: [resource.plural], operations: ['CREATE', 'UPDATE'] }] },
        matchConditions: [{ name: 'the-operator', expression: `request.userInfo.username == '${identities.operator.user}'` }],
        validations: [{ expression: 'false', message: `${name}: the platform refuses this write`, reason }],
      },
    });
    await apply(admin, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'], matchResources: { objectSelector: { matchLabels: label } } },
    });
  };

  beforeAll(async () => {
    const cluster = await startFaultCluster('writers');
    ({ cp, admin, ns } = cluster);
    // --resync 20s: a write refused for good is tried again at the next resync (at most 5 min otherwise).
    op = await spawnOperator(['--namespace', ns, '--leader-elect=false', '--resync=20s'], cluster.operatorKubeconfig(cluster.apiPort), 'writers');
    await op.waitForLine(/Caches synced, starting workers/, 60_000);
    for (const n of ['fought', 'blocked', 'unfinalized']) {
      await apply(admin, service(ns, n));
      await apply(admin, ingress(ns, n, n));
    }
  }, 180_000);

  afterAll(async () => {
    process.stdout.write(`faults (writers): ${JSON.stringify(report)}\n`);
    await op?.stop();
    if (cp) await stopControlPlane(cp);
  });

  it('a competing writer that keeps changing operator-owned fields: no fight loop, the fight is visible, writes stay bounded', async () => {
    await apply(admin, policy(ns, 'fought', spec('fought')));
    await eventually(async () => expect(enforcedNow(await getPolicy('fought'))).toBe(true), 60_000, 500);
    const np = await networkPolicyOf('fought');
    expect(np).toBeDefined();
    const started = Date.now();
    // The rival: every 500 ms it sets its own rate limit and opens the NetworkPolicy to all traffic. Bounded.
    let paused: number | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      await mergePatch(objectPath(Resources.ingress, ns, 'fought'), { metadata: { annotations: { [RPS]: String(1000 + round) } } }, 'rogue-controller');
      await mergePatch(objectPath(Resources.networkPolicy, ns, np!.metadata.name), { spec: { ingress: [{}] } }, 'rogue-controller');
      await new Promise((r) => setTimeout(r, 500));
      if (paused === undefined && (await condition('fought', 'Drifted'))?.reason === 'FightDetected') paused = Date.now();
    }
    const stopped = Date.now();
    expect(paused).toBeDefined();
    // Visible: the condition names the rival, Enforced says what is in effect is not the policy's, one Event, the metric.
    expect((await condition('fought', 'Drifted'))?.message).toContain('rogue-controller');
    expect(await condition('fought', 'Enforced')).toMatchObject({ status: 'False', reason: 'FightDetected' });
    expect(await condition('fought', 'Compliant')).toMatchObject({ status: 'Unknown', reason: 'FightDetected' });
    expect(await events('fought', 'FightDetected')).toBe(1);
    const repairs = await events('fought', 'DriftRepaired');
    expect(repairs).toBeLessThanOrEqual(3);
    const metrics = await op.metrics();
    expect(metricSum(metrics, 'apisec_drift_total', { outcome: 'paused' })).toBeGreaterThan(0);
    // Bounded, against the rival's 2 × ROUNDS: per repair (3 at most) the Ingress, the NetworkPolicy, the
    // status and an Event; then the pause's status and its one Event.
    const writes = operatorWrites(cp, started).filter((e) => e.objectRef?.name?.startsWith('fought') || e.objectRef?.name === np!.metadata.name); // the policy's Events are named fought.<time>
    const byKind = Object.entries(Object.groupBy(writes, (e) => `${e.objectRef?.resource ?? ''}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`)).map(([k, v]) => `${k} ${v?.length ?? 0}`);
    expect(writes.length).toBeLessThanOrEqual(3 * 4 + 2);
    // No loop after the rival stopped: nothing written for 5 s.
    await new Promise((r) => setTimeout(r, 5000));
    expect(operatorWrites(cp, stopped + 1000)).toEqual([]);
    report.competingWriter = {
      rivalWrites: 2 * ROUNDS,
      fightDetectedAfterMs: paused! - started,
      repairs,
      operatorWrites: writes.length,
      operatorWritesByKind: byKind,
      fightEvents: 1,
      driftPausedMetric: metricSum(metrics, 'apisec_drift_total', { outcome: 'paused' }),
      writesAfterRivalStopped: 0,
    };
  }, 120_000);

  it('writes refused for good show as Enforced=Unknown naming the error, stay bounded, and converge once allowed', async () => {
    const operator = connect({ kubeconfig: cp.kubeconfigs.operator });
    await denyOperator('deny-blocked-networkpolicy', { group: 'networking.k8s.io', plural: 'networkpolicies' }, { 'apisec.dev/policy': 'blocked' }, 'Forbidden');
    await denyOperator('deny-unfinalized-policy', { group: 'apisec.dev', plural: 'apisecuritypolicies' }, { 'test.apisec.dev/deny': 'true' }, 'Invalid');
    // Admission policies take effect within a second or so: wait until the operator's identity is refused (dry run).
    await eventually(async () => {
      const probe = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'probe', namespace: ns, labels: { 'apisec.dev/policy': 'blocked' } }, spec: { podSelector: {} } };
      await expect(operator.request('POST', collectionPath(Resources.networkPolicy, ns), { verb: 'create', query: { dryRun: 'All' }, body: probe })).rejects.toThrow(/403/);
    }, 30_000, 500);
    const started = Date.now();
    await apply(admin, policy(ns, 'blocked', spec('blocked')));
    await apply(admin, { ...policy(ns, 'unfinalized', spec('unfinalized')), metadata: { name: 'unfinalized', namespace: ns, labels: { 'test.apisec.dev/deny': 'true' } } });

    const blocked = await conditionBecomes('blocked', 'Enforced', { status: 'Unknown', reason: 'WriteForbidden' });
    expect(blocked?.message).toContain('deny-blocked-networkpolicy: the platform refuses this write');
    expect(await condition('blocked', 'Compliant')).toMatchObject({ status: 'Unknown', reason: 'WriteForbidden' });
    const unfinalized = await conditionBecomes('unfinalized', 'Enforced', { status: 'Unknown', reason: 'WriteInvalid' });
    expect(unfinalized?.message).toContain('deny-unfinalized-policy');
    expect(await condition('unfinalized', 'Compliant')).toMatchObject({ status: 'Unknown', reason: 'WriteInvalid' });
    const shownMs = Date.now() - started;

    // Keep it refused for 25 s (past one resync): attempts stay few, the status is written once per change.
    await new Promise((r) => setTimeout(r, 25_000));
    const during = operatorWrites(cp, started);
    const refusedNp = during.filter((e) => e.objectRef?.resource === 'networkpolicies' && e.responseStatus?.code === 403).length;
    const refusedFinalizer = during.filter((e) => e.objectRef?.resource === 'apisecuritypolicies' && e.objectRef.name === 'unfinalized' && !e.objectRef.subresource && e.responseStatus?.code === 422).length;
    const statusWrites = during.filter((e) => e.objectRef?.subresource === 'status' && ['blocked', 'unfinalized'].includes(e.objectRef.name ?? '')).length;
    expect(refusedNp).toBeGreaterThanOrEqual(1);
    expect(refusedNp).toBeLessThanOrEqual(6);
    // Backoff 200 ms doubling: about 8 attempts in the first 25–30 s, never a hot loop.
    expect(refusedFinalizer).toBeGreaterThanOrEqual(1);
    expect(refusedFinalizer).toBeLessThanOrEqual(12);
    // Once per change of what status says (the first reconciles of each may still see caches catch up), not per attempt.
    expect(statusWrites).toBeLessThanOrEqual(6);

    // The platform lifts the refusals: both converge by themselves (resync, backoff), no update lost.
    const lifted = Date.now();
    for (const name of ['deny-blocked-networkpolicy', 'deny-unfinalized-policy']) {
      await admin.request('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${name}`, { verb: 'delete' });
    }
    await eventually(async () => {
      expect(enforcedNow(await getPolicy('blocked'))).toBe(true);
      expect(await networkPolicyOf('blocked')).toBeDefined();
      const p = await getPolicy('unfinalized');
      expect(enforcedNow(p)).toBe(true);
      expect(p?.metadata.finalizers).toContain('apisec.dev/cleanup');
    }, 120_000, 1000);
    report.refusedWrites = {
      shownInStatusAfterMs: shownMs,
      refusedNetworkPolicyWrites: refusedNp,
      refusedFinalizerWrites: refusedFinalizer,
      statusWrites,
      convergedAfterLiftMs: Date.now() - lifted,
      lostUpdates: 0,
    };
  }, 240_000);
});
