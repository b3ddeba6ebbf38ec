import type { KubeObject } from '../k8s/resources.ts';
import { DIGEST_KEY, slimEvent, slimObject, slimOwned, slimPod } from './slim.ts';

const managed = [
  { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:a': {} }, 'f:labels': { 'f:x': {} } }, 'f:spec': { 'f:rules': {} } } },
  { manager: 'api-security-operator', operation: 'Apply', fieldsV1: { 'f:spec': {} } },
];

describe('slimObject (what the caches keep)', () => {
  it('keeps managers and their annotation field sets, drops the rest and last-applied', () => {
    const ing: KubeObject = { kind: 'Ingress', metadata: { name: 'w', annotations: { a: '1', 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(10_000) }, managedFields: managed }, spec: { rules: [] } };
    const slim = slimObject(ing);
    expect(slim.metadata.annotations).toEqual({ a: '1' });
    expect(slim.metadata.managedFields).toEqual([
      { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:a': {} } } } },
      { manager: 'api-security-operator', operation: 'Apply' },
    ]);
    expect(slim.spec).toEqual({ rules: [] });
  });

  it('keeps a bounded form of a generated kind, whatever its author put in it (a labelled flood costs ~1 KiB each)', () => {
    const big = 'x'.repeat(1024 * 1024);
    const many = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`apisec.dev/x${i}`, 'v']));
    const flood: KubeObject = {
      kind: 'ConfigMap',
      metadata: { name: 'flood', labels: { 'app.kubernetes.io/managed-by': 'api-security-operator', ...many }, annotations: { big }, ownerReferences: Array.from({ length: 100 }, (_, i) => ({ apiVersion: 'v1', kind: 'ApiSecurityPolicy', name: `p${i}`, uid: `u${i}` })) },
      data: { big },
      binaryData: { b: big },
    };
    expect(JSON.stringify(slimOwned(flood)).length).toBeLessThan(1500);
    const np: KubeObject = { kind: 'NetworkPolicy', metadata: { name: 'np' }, spec: { ingress: [{ from: Array.from({ length: 5000 }, () => ({ ipBlock: { cidr: '10.0.0.0/8' } })) }] } };
    expect(slimOwned(np).spec).toEqual({ [DIGEST_KEY]: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // The operator's own is compared in the same form: equal content, equal digest.
    const own: KubeObject = { kind: 'ConfigMap', metadata: { name: 'apisec-p-sidecar', labels: { 'apisec.dev/policy': 'p' } }, data: { 'nginx.conf': 'events {}' } };
    expect(slimOwned(own)).toEqual(slimOwned({ ...own, metadata: { ...own.metadata, resourceVersion: undefined } }));
    expect(slimOwned(own).data).not.toEqual(slimOwned({ ...own, data: { 'nginx.conf': 'events { }' } }).data);
    expect(slimOwned(own).metadata.labels).toEqual({ 'apisec.dev/policy': 'p' });
  });

  it("keeps of a data plane's status only whether it accepted the object per Gateway, bounded", () => {
    const condition = { type: 'Accepted', status: 'False', reason: 'Conflicted', message: 'm'.repeat(100_000), observedGeneration: 3, lastTransitionTime: '2026-12-01T00:00:00Z' };
    const ancestor = { ancestorRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'eg', namespace: 'shop' }, controllerName: 'gateway.envoyproxy.io/gatewayclass-controller', conditions: [{ type: 'ResolvedRefs', status: 'True' }, condition] };
    const sp = { kind: 'SecurityPolicy', metadata: { name: 'sp', generation: 3 }, spec: {}, status: { ancestors: Array.from({ length: 100 }, () => ancestor) } } as KubeObject;
    const slim = slimOwned(sp) as KubeObject & { status: { ancestors: unknown[] } };
    expect(slim.metadata.generation).toBe(3);
    expect(slim.status.ancestors).toHaveLength(16);
    expect(slim.status.ancestors[0]).toEqual({
      ancestorRef: { kind: 'Gateway', name: 'eg', namespace: 'shop' },
      controllerName: 'gateway.envoyproxy.io/gatewayclass-controller',
      conditions: [{ type: 'Accepted', status: 'False', reason: 'Conflicted', message: 'm'.repeat(512), observedGeneration: 3 }],
    });
    expect(JSON.stringify(slim).length).toBeLessThan(16 * 1024);
    expect(slimOwned({ kind: 'ConfigMap', metadata: { name: 'c' }, status: { x: 1 } } as KubeObject)).not.toHaveProperty('status');
  });

  it("keeps of the guard's Event whom it is about, when (the series' last time first) and a clipped note", () => {
    const e: KubeObject = {
      kind: 'Event',
      metadata: { name: 'p.1', namespace: 'ns', managedFields: managed },
      regarding: { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'p', namespace: 'ns', uid: 'u' },
      eventTime: '2026-11-27T23:00:00.000000Z',
      series: { count: 3, lastObservedTime: '2026-11-27T23:30:00.000000Z' },
      note: 'n'.repeat(1000),
      reportingInstance: 'guard-1',
    };
    const slim = slimEvent(e);
    expect(slim.regarding).toEqual({ kind: 'ApiSecurityPolicy', name: 'p' });
    expect(slim.eventTime).toBe('2026-11-27T23:30:00.000000Z');
    expect(String(slim.note)).toHaveLength(256);
    expect(slim.metadata.managedFields).toBeUndefined();
    expect(slim.reportingInstance).toBeUndefined();
  });
});

describe('slimPod (sidecar injection)', () => {
  it("keeps the name, labels and the webhook's three annotations (clipped), nothing else", () => {
    const pod = {
      apiVersion: 'meta.k8s.io/v1',
      kind: 'PartialObjectMetadata',
      metadata: { name: 'orders-1', namespace: 'shop', uid: 'u', resourceVersion: '7', labels: { app: 'orders' }, annotations: { 'apisec.dev/sidecar-injected': 'orders', 'apisec.dev/sidecar-refused': 'r'.repeat(1000), 'apisec.dev/sidecar-config': 'c0ffee', big: 'x'.repeat(10_000) }, managedFields: [{ manager: 'kubelet' }] },
    } as KubeObject;
    expect(slimPod(pod).metadata).toEqual({ name: 'orders-1', namespace: 'shop', uid: 'u', resourceVersion: '7', labels: { app: 'orders' }, annotations: { 'apisec.dev/sidecar-injected': 'orders', 'apisec.dev/sidecar-refused': 'r'.repeat(256), 'apisec.dev/sidecar-config': 'c0ffee' } });
    expect(slimPod({ metadata: { name: 'p', deletionTimestamp: '2026-01-01T00:00:00Z' } } as KubeObject).metadata).toEqual({ name: 'p', namespace: undefined, uid: undefined, resourceVersion: undefined, deletionTimestamp: '2026-01-01T00:00:00Z' });
  });
});
