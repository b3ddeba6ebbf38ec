import type { ControlName, ControlResult } from '../api/v1alpha1.ts';
import { ANNOTATION_OMITTED, MAX_RESULTS, renderPolicyReport, type PolicyReport, type ReportPolicy } from './policy-report.ts';

const CONTROLS: ControlName[] = ['HTTPSOnly', 'Authentication', 'Authorization', 'RateLimit', 'IPAccess', 'CORS', 'RequestLimits', 'WAF', 'NetworkIsolation', 'Logging'];
const RESULTS: ControlResult['result'][] = ['Pass', 'Fail', 'Warn', 'NotApplicable'];

const control = (c: ControlName, result: ControlResult['result'], over: Partial<ControlResult> = {}): ControlResult => ({
  control: c,
  result,
  enforcement: result === 'Pass' ? 'Enforced' : 'NotEnforced',
  message: `${c} is ${result}`,
  ...over,
});
const policy = (name: string, controls: ControlResult[], over: Partial<ReportPolicy> = {}): ReportPolicy => ({
  name,
  targets: [{ kind: 'Ingress', name: `${name}-web`, uid: `uid-${name}` }, { kind: 'Service', name: `${name}-svc` }],
  controls,
  ...over,
});
const render = (policies: ReportPolicy[], uncovered: Parameters<typeof renderPolicyReport>[0]['uncovered'] = [], extra = {}): PolicyReport => {
  const r = renderPolicyReport({ namespace: 'shop', policies, uncovered, ...extra });
  if (!r) throw new Error('no report');
  return r;
};

describe('renderPolicyReport', () => {
  it('renders nothing when the namespace has nothing to report', () => {
    expect(renderPolicyReport({ namespace: 'shop', policies: [], uncovered: [] })).toBeUndefined();
    // A policy the operator has not evaluated yet has no results.
    expect(renderPolicyReport({ namespace: 'shop', policies: [policy('new', [], { controls: undefined })], uncovered: [] })).toBeUndefined();
  });

  it('maps each control result (Pass→pass, Fail→fail, Warn→warn, NotApplicable→skip) with the policy targets as resources', () => {
    const r = render([policy('orders', [control('HTTPSOnly', 'Pass', { fidelity: 'Exact' }), control('RateLimit', 'Fail', { remediation: 'set spec.rateLimit' }), control('WAF', 'Warn'), control('CORS', 'NotApplicable')])]);
    expect(r.apiVersion).toBe('wgpolicyk8s.io/v1alpha2');
    expect(r.kind).toBe('PolicyReport');
    expect(r.metadata).toEqual({
      name: 'api-security-operator',
      namespace: 'shop',
      labels: { 'app.kubernetes.io/managed-by': 'api-security-operator' },
      annotations: { [ANNOTATION_OMITTED]: '0' },
    });
    expect(r.results.map((x) => `${x.rule}:${x.result}`)).toEqual(['RateLimit:fail', 'WAF:warn', 'HTTPSOnly:pass', 'CORS:skip']);
    expect(r.summary).toEqual({ pass: 1, fail: 1, warn: 1, error: 0, skip: 1 });
    expect(r.results[0]).toEqual({
      policy: 'orders',
      rule: 'RateLimit',
      result: 'fail',
      severity: 'high',
      category: 'API Security',
      message: 'RateLimit is Fail',
      source: 'api-security-operator',
      resources: [
        { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'orders-web', namespace: 'shop', uid: 'uid-orders' },
        { apiVersion: 'v1', kind: 'Service', name: 'orders-svc', namespace: 'shop' },
      ],
      properties: { enforcement: 'NotEnforced', remediation: 'set spec.rateLimit' },
    });
    expect(r.results.find((x) => x.rule === 'HTTPSOnly')?.properties).toEqual({ enforcement: 'Enforced', fidelity: 'Exact' });
  });

  it('narrows resources to the target a control result names', () => {
    const r = render([policy('orders', [control('HTTPSOnly', 'Warn', { target: 'Ingress/orders-web' })])]);
    expect(r.results[0]?.resources?.map((x) => x.name)).toEqual(['orders-web']);
  });

  it('reports a policy that is not accepted as one error instead of its (stale) controls', () => {
    const r = render([policy('bad', [control('HTTPSOnly', 'Pass')], { accepted: { status: 'False', reason: 'InvalidSpec', message: 'spec.targetRefs: required' } })]);
    expect(r.results).toHaveLength(1);
    expect(r.results[0]).toMatchObject({ policy: 'bad', rule: 'Accepted', result: 'error', message: 'InvalidSpec: spec.targetRefs: required' });
    expect(r.summary).toEqual({ pass: 0, fail: 0, warn: 0, error: 1, skip: 0 });
    expect(render([policy('ok', [control('HTTPSOnly', 'Pass')], { accepted: { status: 'True', reason: 'Accepted', message: '' } })]).results).toHaveLength(1);
  });

  it('keeps the (failing) controls of a policy whose targets are all missing: they are evaluated', () => {
    const r = render([policy('lost', [control('HTTPSOnly', 'Fail')], { accepted: { status: 'False', reason: 'TargetNotFound', message: 'Ingress/web not found' } })]);
    expect(r.results.map((x) => [x.rule, x.result])).toEqual([['HTTPSOnly', 'fail']]);
  });

  it('reports pods without the sidecar (SidecarInjected=False) as one fail of the policy', () => {
    const sidecarInjected = { status: 'False', reason: 'PodsWithoutSidecar', message: '1 of 2 opted-in pod(s) behind the Services run without the sidecar' };
    const r = render([policy('orders', [control('RateLimit', 'Pass')], { sidecarInjected })]);
    expect(r.results.find((x) => x.rule === 'SidecarInjected')).toMatchObject({ policy: 'orders', result: 'fail', severity: 'high', message: `PodsWithoutSidecar: ${sidecarInjected.message}` });
    expect(r.summary).toMatchObject({ pass: 1, fail: 1 });
    const ok = render([policy('orders', [], { sidecarInjected: { ...sidecarInjected, status: 'True', reason: 'AllPodsInjected' } })]);
    expect(ok.results.map((x) => [x.rule, x.result])).toEqual([['SidecarInjected', 'pass']]);
  });

  it('adds one fail per uncovered API, under the apisec-inventory policy', () => {
    const r = render([], [
      { kind: 'Service', name: 'lb', serviceType: 'LoadBalancer' },
      { kind: 'Ingress', name: 'open', uid: 'u1', hosts: ['a.example.com', '*'], paths: ['/', '/v1'] },
    ]);
    expect(r.results.map((x) => `${x.policy}/${x.rule}:${x.result}:${x.resources?.[0]?.kind}/${x.resources?.[0]?.name}`)).toEqual([
      'apisec-inventory/covered:fail:Ingress/open',
      'apisec-inventory/covered:fail:Service/lb',
    ]);
    expect(r.results[0]?.message).toBe('Ingress open (hosts a.example.com, *; paths /, /v1) is exposed, but no ApiSecurityPolicy covers it');
    expect(r.results[0]?.resources).toEqual([{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'open', namespace: 'shop', uid: 'u1' }]);
    expect(r.results[1]?.message).toContain('type LoadBalancer');
    expect(r.summary.fail).toBe(2);
  });

  it('is deterministic: the same facts in any order give the same report, with no timestamp', () => {
    const policies = ['c', 'a', 'b'].map((n, i) => policy(n, CONTROLS.map((c, j) => control(c, RESULTS[(i + j) % 4]!))));
    const uncovered = [{ kind: 'Ingress' as const, name: 'z' }, { kind: 'Ingress' as const, name: 'y' }];
    const one = render(policies, uncovered);
    const two = render([...policies].reverse().map((p) => ({ ...p, controls: [...(p.controls ?? [])].reverse() })), [...uncovered].reverse());
    expect(JSON.stringify(two)).toBe(JSON.stringify(one));
    expect(JSON.stringify(one)).not.toMatch(/timestamp|Time"/i);
    // fails first, then warns, then errors, passes and skips
    const ranks = one.results.map((r) => ['fail', 'warn', 'error', 'pass', 'skip'].indexOf(r.result));
    expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
  });

  it('keeps at most 500 results, fails and warns first, counts all in the summary and says how many were left out', () => {
    // 60 policies × 10 controls = 600 results: 150 fail, 150 warn, 150 pass, 150 skip, plus 7 uncovered APIs.
    const policies = Array.from({ length: 60 }, (_, i) => policy(`p${String(i).padStart(2, '0')}`, CONTROLS.map((c, j) => control(c, RESULTS[(i + j) % 4]!))));
    const uncovered = Array.from({ length: 7 }, (_, i) => ({ kind: 'Ingress' as const, name: `open-${i}` }));
    const r = render(policies, uncovered);
    expect(r.results).toHaveLength(MAX_RESULTS);
    expect(r.summary).toEqual({ pass: 150, fail: 157, warn: 150, error: 0, skip: 150 });
    const kept = r.results.slice(0, -1);
    expect(kept.filter((x) => x.result === 'fail')).toHaveLength(157);
    expect(kept.filter((x) => x.result === 'warn')).toHaveLength(150);
    expect(kept.filter((x) => x.result === 'pass')).toHaveLength(150);
    expect(kept.filter((x) => x.result === 'skip')).toHaveLength(499 - 457); // the skips go first
    const note = r.results.at(-1);
    expect(note).toMatchObject({ policy: 'apisec-report', rule: 'truncated', result: 'skip', properties: { omitted: '108', total: '607' } });
    expect(note?.message).toContain('108 of 607 results left out');
    expect(r.metadata.annotations[ANNOTATION_OMITTED]).toBe('108');
  });

  it('honours a smaller limit and a byte budget', () => {
    const policies = [policy('p', CONTROLS.map((c) => control(c, 'Fail', { message: 'x'.repeat(2000) })))];
    expect(render(policies, [], { maxResults: 4 }).results).toHaveLength(4);
    const r = render(policies, [], { maxBytes: 3000 });
    // messages are clipped to 512 characters; about 1 KiB per result fits 2 results in 3000 bytes
    expect(r.results[0]?.message).toHaveLength(512);
    expect(r.results.length).toBeLessThan(5);
    expect(r.results.at(-1)?.rule).toBe('truncated');
    expect(r.summary.fail).toBe(10);
    expect(Number(r.metadata.annotations[ANNOTATION_OMITTED])).toBe(10 - (r.results.length - 1));
  });

  it('stays under etcd\'s object size limit in the worst case (long names, 16 targets, long messages)', () => {
    const targets = Array.from({ length: 16 }, (_, i) => ({ kind: 'Ingress' as const, name: `${'n'.repeat(250)}${i}`, uid: '0'.repeat(36) }));
    const policies = Array.from({ length: 64 }, (_, i) => policy(`${'p'.repeat(240)}${i}`, CONTROLS.map((c) => control(c, 'Fail', { message: 'm'.repeat(1024), remediation: 'r'.repeat(1024) })), { targets }));
    const r = render(policies);
    expect(new TextEncoder().encode(JSON.stringify(r)).length).toBeLessThan(1_000_000);
    expect(r.summary.fail).toBe(640);
  });
});
