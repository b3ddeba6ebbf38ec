import type { KubeObject } from '../k8s/resources.ts';
import { slimEvent, slimObject } from './slim.ts';

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

  it("drops the data of a ConfigMap no policy owns (a labelled flood costs metadata only), keeps a policy's own", () => {
    const big = 'x'.repeat(1024 * 1024);
    const foreign: KubeObject = { kind: 'ConfigMap', metadata: { name: 'flood', labels: { 'app.kubernetes.io/managed-by': 'api-security-operator' } }, data: { big }, binaryData: { b: big } };
    expect(JSON.stringify(slimObject(foreign)).length).toBeLessThan(200);
    const own: KubeObject = { kind: 'ConfigMap', metadata: { name: 'apisec-p-sidecar', ownerReferences: [{ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'p', uid: 'u' }] }, data: { 'nginx.conf': 'events {}' } };
    expect(slimObject(own).data).toEqual({ 'nginx.conf': 'events {}' });
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
