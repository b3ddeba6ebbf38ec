// The policy reconciler's error contract, with in-memory caches and recorded actions (the behaviour against
// a real API server is covered by test/integration/controller.test.ts).
import type { ControlResult } from '../api/status-v1alpha1.ts';
import { ApiError, TerminalError } from '../k8s/errors.ts';
import type { KubeObject } from '../k8s/resources.ts';
import { generatedName } from '../render/labels.ts';
import { defaultSettings } from '../render/types.ts';
import { conditionOf, ingressObject, memoryCaches, policyObject, reconcileContext, recordingActions, serviceObject } from '../../test/support/builders.ts';
import type { Actions } from './deps.ts';
import { FINALIZER, PolicyReconciler } from './policy.ts';

const ingress = ingressObject('web');
const svc = serviceObject('svc');

function setup(p: KubeObject, fail?: (call: string) => Error | undefined, extra: Parameters<typeof memoryCaches>[0] = {}, get?: Actions['get']) {
  const recorded = recordingActions(fail);
  if (get) recorded.actions.get = get;
  const caches = memoryCaches({ policies: [p], ingresses: [ingress], services: [svc], ...extra });
  return { reconciler: new PolicyReconciler({ caches, actions: recorded.actions, settings: defaultSettings }), ...recorded };
}

const npName = generatedName({ name: 'p', namespace: 'ns', uid: 'u1' }, 'svc');
const spec = { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'web' }], rateLimit: { requestsPerSecond: 5 }, network: { defaultDeny: true } };

describe('PolicyReconciler', () => {
  it('adds the finalizer first, then writes owned objects before the annotations that use them, then status', async () => {
    const { reconciler, calls } = setup(policyObject(spec, { finalizers: [] }));
    const ctx = reconcileContext();
    const res = await reconciler.reconcile('ns/p', ctx);
    expect(calls.map((c) => c.replace(/ \d+$/, ''))).toEqual([`applyFinalizers [${FINALIZER}]`, `applyOwned ${npName}`, 'applyAnnotations web', 'applyStatus']);
    expect(ctx.writes.count).toBe(4);
    expect(res?.requeueAfterMs).toBe(10 * 60_000);
  });

  it('does not send the same status twice while the cache has not seen the first write (an echo reconcile)', async () => {
    const { reconciler, calls } = setup(policyObject(spec, { finalizers: [FINALIZER] }));
    await reconciler.reconcile('ns/p', reconcileContext());
    expect(calls.filter((c) => c === 'applyStatus')).toHaveLength(1);
    // Again on the same caches (the watch has delivered nothing yet): the same status is not written again.
    await reconciler.reconcile('ns/p', reconcileContext());
    expect(calls.filter((c) => c === 'applyStatus')).toHaveLength(1);
  });

  it.each([
    ['409 conflict', new ApiError('conflict', 409, 'Conflict'), 'WriteConflict'],
    ['429 throttled', new ApiError('slow down', 429, 'TooManyRequests'), 'Throttled'],
    ['503', new ApiError('unavailable', 503, 'ServiceUnavailable'), 'APIUnavailable'],
    ['500', new ApiError('boom', 500, 'InternalError'), 'APIServerError'],
    ['network error', new ApiError('ECONNRESET', 0, 'NetworkError'), 'APIUnreachable'],
  ])('a transient %s still writes status (Enforced=Unknown naming it, once), then throws for a backoff retry', async (_name, err, reason) => {
    const { reconciler, calls, statuses } = setup(policyObject(spec), (call) => (call.startsWith('applyAnnotations') ? err : undefined));
    await expect(reconciler.reconcile('ns/p', reconcileContext())).rejects.toBe(err);
    expect(calls.filter((c) => c === 'applyStatus')).toHaveLength(1);
    expect(conditionOf(statuses[0], 'Enforced')).toMatchObject({ status: 'Unknown', reason });
    expect(conditionOf(statuses[0], 'Programmed')).toMatchObject({ status: 'Unknown', reason });
  });

  it('a permanent 403 becomes Enforced=Unknown, WriteForbidden, with a bounded re-check instead of a hot retry', async () => {
    const err = new ApiError('PATCH ingresses/web: 403 Forbidden: cannot patch', 403, 'Forbidden');
    const { reconciler, statuses } = setup(policyObject(spec), (call) => (call.startsWith('applyOwned') ? err : undefined));
    const res = await reconciler.reconcile('ns/p', reconcileContext());
    expect(res?.requeueAfterMs).toBe(5 * 60_000);
    expect(conditionOf(statuses[0], 'Enforced')).toMatchObject({ status: 'Unknown', reason: 'WriteForbidden' });
    expect(String(conditionOf(statuses[0], 'Enforced')?.message)).toContain('403 Forbidden');
  });

  it('a refused finalizer write (before anything is assessed) still shows in status, once, and is thrown for the backoff', async () => {
    const err = new ApiError('PATCH apisecuritypolicies/p: 422 Invalid: denied by a ValidatingAdmissionPolicy', 422, 'Invalid');
    const p = policyObject(spec, { finalizers: [] });
    const { reconciler, calls, statuses } = setup(p, (call) => (call.startsWith('applyFinalizers') ? err : undefined));
    await expect(reconciler.reconcile('ns/p', reconcileContext())).rejects.toBe(err);
    expect(calls.filter((c) => !c.startsWith('applyFinalizers'))).toEqual(['applyStatus']);
    expect(conditionOf(statuses[0], 'Enforced')).toMatchObject({ status: 'Unknown', reason: 'WriteInvalid' });
    expect(String(conditionOf(statuses[0], 'Enforced')?.message)).toContain('denied by a ValidatingAdmissionPolicy');
    // The retry finds the same status (the cache now holds it): no second write.
    const again = setup({ ...p, status: statuses[0] } as KubeObject, (call) => (call.startsWith('applyFinalizers') ? err : undefined));
    await expect(again.reconciler.reconcile('ns/p', reconcileContext())).rejects.toBe(err);
    expect(again.calls.filter((c) => c === 'applyStatus')).toEqual([]);
  });

  it('a failing status write is not written twice in one reconcile', async () => {
    const err = new ApiError('PATCH apisecuritypolicies/p/status: 503', 503, 'ServiceUnavailable');
    const { reconciler, calls } = setup(policyObject(spec, { finalizers: [FINALIZER] }), (call) => (call === 'applyStatus' ? err : undefined));
    await expect(reconciler.reconcile('ns/p', reconcileContext())).rejects.toBe(err);
    expect(calls.filter((c) => c === 'applyStatus')).toHaveLength(1);
  });

  it('an invalid spec is terminal: a condition, no writes to targets, a TerminalError for the runtime', async () => {
    const { reconciler, calls, statuses } = setup(policyObject({ ...spec, rateLimit: { requestsPerSecond: 5, requestsPerMinute: 60 } }));
    const err = await reconciler.reconcile('ns/p', reconcileContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe('InvalidSpec');
    expect(calls).toEqual(['applyStatus']);
    expect(conditionOf(statuses[0], 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid', lastTransitionTime: '2026-11-28T00:00:00Z' });
    expect(conditionOf(statuses[0], 'Enforced')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(String(conditionOf(statuses[0], 'Accepted')?.message)).toContain('spec.rateLimit');
  });

  it('an auth URL the operator does not allow is terminal: Accepted=False OutboundURLRefused, nothing written', async () => {
    const { reconciler, calls, statuses } = setup(policyObject({ ...spec, authentication: { external: { authURL: 'http://127.0.0.1:10246/configuration/backends' } } }));
    const err = await reconciler.reconcile('ns/p', reconcileContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect(calls).toEqual(['applyStatus']);
    expect(conditionOf(statuses[0], 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(conditionOf(statuses[0], 'Enforced')).toMatchObject({ status: 'False', reason: 'OutboundURLRefused' });
    expect(String(conditionOf(statuses[0], 'Accepted')?.message)).toContain('loopback address 127.0.0.1');
  });

  const foreignOwner = { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'other', uid: 'u2', controller: true };
  it.each<[string, Parameters<typeof memoryCaches>[0], Actions['get'], string]>([
    ['a cached object with the operator labels, owned by another policy', { networkPolicies: [{ metadata: { name: npName, namespace: 'ns', labels: { 'apisec.dev/policy': 'p' }, ownerReferences: [foreignOwner] } } as KubeObject] }, undefined, 'ApiSecurityPolicy/other (uid u2)'],
    ['an object the caches do not hold (no operator labels), read by name', {}, async (_r, _ns, name) => (name === npName ? ({ metadata: { name, namespace: 'ns' } } as KubeObject) : undefined), 'no owner'],
  ])('a generated name taken by %s: Conflicted naming the owner, nothing written', async (_what, extra, get, owner) => {
    const { reconciler, calls, statuses } = setup(policyObject(spec), undefined, extra, get);
    const res = await reconciler.reconcile('ns/p', reconcileContext());
    expect(calls).toEqual(['applyStatus']);
    expect(res?.requeueAfterMs).toBe(5 * 60_000);
    expect(conditionOf(statuses[0], 'Conflicted')).toMatchObject({ status: 'True', reason: 'ForeignObject' });
    expect(String(conditionOf(statuses[0], 'Conflicted')?.message)).toContain(`NetworkPolicy ${npName} already exists and is not this policy's: owned by ${owner}`);
    expect(conditionOf(statuses[0], 'Enforced')).toMatchObject({ status: 'False', reason: 'Conflicted' });
  });

  it('an object of that name owned by this policy (cache lagging) is applied as usual', async () => {
    const get: Actions['get'] = async (_r, _ns, name) => ({ metadata: { name, namespace: 'ns', ownerReferences: [{ uid: 'u1' }] } }) as unknown as KubeObject;
    const { reconciler, calls } = setup(policyObject(spec), undefined, {}, get);
    await reconciler.reconcile('ns/p', reconcileContext());
    expect(calls).toContain(`applyOwned ${npName}`);
  });

  // Finding 4 of the security review: a forced apply took an admin's annotation keys over (and deleted
  // them when the policy later dropped the control).
  const ownedBy = (manager: string, operation: 'Apply' | 'Update', keys: string[]) => ({
    manager,
    operation,
    fieldsV1: { 'f:metadata': { 'f:annotations': Object.fromEntries(keys.map((k) => [`f:${k}`, {}])) } },
  });
  it('an Ingress on which another manager owns a key the policy would change is held: Conflicted naming the manager, not written', async () => {
    const admin = ingressObject('web', { annotations: { 'nginx.ingress.kubernetes.io/limit-rps': '100' } });
    admin.metadata.managedFields = [ownedBy('admin-tool', 'Update', ['nginx.ingress.kubernetes.io/limit-rps'])];
    const { reconciler, calls, statuses } = setup(policyObject(spec), undefined, { ingresses: [admin] });
    await reconciler.reconcile('ns/p', reconcileContext());
    expect(calls.filter((c) => c.startsWith('applyAnnotations'))).toEqual([]);
    expect(conditionOf(statuses[0], 'Enforced')).toMatchObject({ status: 'False', reason: 'Conflicted' });
    expect(conditionOf(statuses[0], 'Conflicted')).toMatchObject({ status: 'True', reason: 'AnnotationOwned' });
    expect(conditionOf(statuses[0], 'Accepted')).toMatchObject({ status: 'True' });
    const message = String(conditionOf(statuses[0], 'Conflicted')?.message);
    expect(message).toContain('nginx.ingress.kubernetes.io/limit-rps (field manager "admin-tool")');
    expect(message).toContain('kubectl annotate ingress web nginx.ingress.kubernetes.io/limit-rps-');
    expect(statuses[0]?.targets).toEqual([expect.objectContaining({ kind: 'Ingress', name: 'web', state: 'Conflicted' })]);
    // Nothing enforced on the held Ingress counts: no control reads Enforced for it.
    const controls = (statuses[0]?.['controls'] ?? []) as ControlResult[];
    expect(controls.filter((c) => c.enforcement === 'Enforced' && c.target === 'Ingress/web')).toEqual([]);
  });

  it('a key another manager owns with the value the policy wants is shared, not a conflict', async () => {
    const admin = ingressObject('web', { annotations: { 'nginx.ingress.kubernetes.io/limit-rps': '5' } });
    admin.metadata.managedFields = [ownedBy('admin-tool', 'Update', ['nginx.ingress.kubernetes.io/limit-rps'])];
    const { reconciler, calls } = setup(policyObject(spec), undefined, { ingresses: [admin] });
    await reconciler.reconcile('ns/p', reconcileContext());
    expect(calls.filter((c) => c.startsWith('applyAnnotations'))).toEqual([expect.stringMatching(/^applyAnnotations web \d+$/)]);
  });

  it('after convergence, a key someone else changed is the operator\'s own: repaired by a forced apply', async () => {
    const first = setup(policyObject(spec));
    let applied: Record<string, string> = {};
    const capture = first.actions.applyAnnotations.bind(first.actions);
    first.actions.applyAnnotations = async (r, ref, want, opts) => {
      applied = want;
      return capture(r, ref, want, opts);
    };
    await first.reconciler.reconcile('ns/p', reconcileContext());
    expect(first.statuses[0]?.appliedDigest).toBeDefined();
    const edited = ingressObject('web', { annotations: { ...applied, 'nginx.ingress.kubernetes.io/limit-rps': '500' } });
    const ours = Object.keys(applied).filter((k) => k !== 'nginx.ingress.kubernetes.io/limit-rps');
    edited.metadata.managedFields = [ownedBy('api-security-operator', 'Apply', ours), ownedBy('kubectl-edit', 'Update', ['nginx.ingress.kubernetes.io/limit-rps'])];
    const converged = { ...policyObject(spec), status: first.statuses[0] } as KubeObject;
    const again = setup(converged, undefined, { ingresses: [edited] });
    await again.reconciler.reconcile('ns/p', reconcileContext());
    expect(again.calls.filter((c) => c.startsWith('applyAnnotations'))).toEqual([expect.stringMatching(/^applyAnnotations web \d+ force$/)]);
  });

  it('a policy being deleted releases what it wrote and then its finalizer', async () => {
    const marked = ingressObject('web', { annotations: { 'apisec.dev/policy': 'p', 'nginx.ingress.kubernetes.io/limit-rps': '5' } });
    marked.metadata.managedFields = [{ manager: 'api-security-operator', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:apisec.dev/policy': {} } } } }];
    const { reconciler, calls } = setup(policyObject(spec, { deletionTimestamp: '2026-11-28T00:00:00Z' }), undefined, {
      ingresses: [marked],
      networkPolicies: [
        { metadata: { name: 'apisec-p-svc', namespace: 'ns', labels: { 'apisec.dev/policy': 'p' }, ownerReferences: [{ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'p', uid: 'u1' }] } },
        // The policy's label alone (anyone may set it on their own object): not the policy's, not deleted.
        { metadata: { name: 'labelled-by-someone', namespace: 'ns', labels: { 'apisec.dev/policy': 'p' } } },
        { metadata: { name: 'owned-by-an-older-p', namespace: 'ns', labels: { 'apisec.dev/policy': 'p' }, ownerReferences: [{ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'p', uid: 'u0' }] } },
      ],
    });
    await reconciler.reconcile('ns/p', reconcileContext());
    expect(calls).toEqual(['applyAnnotations web 0', 'delete apisec-p-svc', 'applyFinalizers []']);
  });

  it('never deletes an object that carries only the policy label: generated objects are matched by owner', async () => {
    const { reconciler, calls } = setup(policyObject(spec), undefined, {
      networkPolicies: [{ metadata: { name: 'tenant-np', namespace: 'ns', labels: { 'apisec.dev/policy': 'p', 'app.kubernetes.io/managed-by': 'api-security-operator' } } }],
    });
    await reconciler.reconcile('ns/p', reconcileContext());
    expect(calls).not.toContain('delete tenant-np');
  });

  it('names a client CA only when its Secret is labelled for it; otherwise refused, nothing written', async () => {
    const mtls = { ...spec, authentication: { mtls: { caSecretRef: 'client-ca' } } };
    const unlabelled = setup(policyObject(mtls));
    await expect(unlabelled.reconciler.reconcile('ns/p', reconcileContext())).rejects.toBeInstanceOf(TerminalError);
    expect(unlabelled.calls).toEqual(['applyStatus']);
    expect(conditionOf(unlabelled.statuses[0], 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(conditionOf(unlabelled.statuses[0], 'Enforced')).toMatchObject({ status: 'False', reason: 'ClientCANotLabelled' });
    expect(String(conditionOf(unlabelled.statuses[0], 'Accepted')?.message)).toContain('kubectl label secret client-ca -n ns apisec.dev/client-ca=true');
    expect(conditionOf(unlabelled.statuses[0], 'Enforced')).toMatchObject({ status: 'False' });

    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'client-ca', namespace: 'ns' } };
    const labelled = setup(policyObject(mtls), undefined, { clientCAs: [secret] });
    await labelled.reconciler.reconcile('ns/p', reconcileContext());
    expect(labelled.calls.some((c) => c.startsWith('applyAnnotations web'))).toBe(true);
    expect(conditionOf(labelled.statuses[0], 'Accepted')).toMatchObject({ status: 'True' });
  });
});
