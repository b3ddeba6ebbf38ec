import { BaselineFloors } from '../api/cluster-v1alpha1.ts';
import { defaultSettings, type IngressLike } from '../render/types.ts';
import type { Baseline } from './baseline.ts';
import { ANNOTATION_BASELINE, decideProtection, protectedByMarker, wouldProtect } from './protect.ts';

const N = 'nginx.ingress.kubernetes.io/';
const floors = BaselineFloors.parse({ tls: { httpsOnly: true }, rateLimit: { requestsPerSecond: 100 }, requestLimits: { maxBodySize: '1Mi' } });
const base = (name: string, protectUncovered = true, extra: object = {}): Baseline => ({ name, floors: { ...floors, ...extra }, protectUncovered, creationTimestamp: '2026-01-01T00:00:00Z' });
const ing = (name: string, cls = 'nginx'): IngressLike => ({ metadata: { name, namespace: 'ns' }, spec: { ingressClassName: cls, rules: [{ host: 'a.example.com' }] } });

describe('decideProtection', () => {
  it('renders the floors onto an Ingress no policy targets, marked by the baseline, never by a policy', () => {
    const d = decideProtection({ baseline: 'floor', selecting: [base('floor')], ingress: ing('web'), policies: [], settings: defaultSettings });
    expect(d.kind).toBe('protect');
    if (d.kind !== 'protect') return;
    expect(d.annotations).toMatchObject({ [`${N}force-ssl-redirect`]: 'true', [`${N}limit-rps`]: '100', [`${N}proxy-body-size`]: '1m', [ANNOTATION_BASELINE]: 'floor' });
    expect(d.annotations['apisec.dev/policy']).toBeUndefined();
  });

  it('leaves an Ingress that a live, valid policy claims to the policy', () => {
    const policies = [{ name: 'p', spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'web' }] } }];
    expect(decideProtection({ baseline: 'floor', selecting: [base('floor')], ingress: ing('web'), policies, settings: defaultSettings })).toEqual({ kind: 'governed', policy: 'p' });
    const deleting = [{ ...policies[0]!, deleting: true }];
    expect(decideProtection({ baseline: 'floor', selecting: [base('floor')], ingress: ing('web'), policies: deleting, settings: defaultSettings }).kind).toBe('protect');
  });

  it('protects an Ingress whose only policy is invalid: the operator refuses that policy and writes nothing for it', () => {
    const invalid = [{ name: 'p', spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'web' }], rateLimit: { requestsPerSecond: -1 } } }];
    expect(decideProtection({ baseline: 'floor', selecting: [base('floor')], ingress: ing('web'), policies: invalid, settings: defaultSettings }).kind).toBe('protect');
  });

  it.each([
    ['an unknown class', ing('web', 'istio'), [base('floor')], 'maps to no data plane'],
    ['Traefik (its controls need policy-owned Middlewares)', ing('web', 'traefik'), [base('floor')], 'Middlewares'],
    ['a data plane the baselines do not allow', ing('web', 'haproxy'), [base('floor', true, { providers: ['ingress-nginx'] })], 'do not allow'],
  ])('names %s as unprotectable', (_name, ingress, selecting, reason) => {
    const d = decideProtection({ baseline: 'floor', selecting, ingress, policies: [], settings: defaultSettings });
    expect(d.kind).toBe('unprotectable');
    expect(d.kind === 'unprotectable' ? d.reason : '').toContain(reason);
  });

  it('wouldProtect (apisec check): only a protecting baseline covers, the oldest first', () => {
    expect(wouldProtect(ing('web'), [base('floor', false)], [], defaultSettings)).toBeUndefined();
    expect(wouldProtect(ing('web'), [base('b'), { ...base('a'), creationTimestamp: '2026-02-01T00:00:00Z' }], [], defaultSettings)).toBe('b');
  });
});

describe('protectedByMarker', () => {
  const managed = (manager: string) => [{ manager, operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': { [`f:${ANNOTATION_BASELINE}`]: {} } } } }];
  it('believes the marker only when the operator applied it: anyone can set an annotation', () => {
    const meta = { name: 'web', annotations: { [ANNOTATION_BASELINE]: 'floor' } };
    expect(protectedByMarker({ metadata: { ...meta, managedFields: managed('api-security-operator') } }, 'api-security-operator')).toBe('floor');
    expect(protectedByMarker({ metadata: { ...meta, managedFields: managed('kubectl-client-side-apply') } }, 'api-security-operator')).toBeUndefined();
    expect(protectedByMarker({ metadata: meta }, 'api-security-operator')).toBeUndefined();
  });
});
