// Table tests of the pure status decisions: convergence (digest), the drift condition, Enforced, and a
// baseline's status. The reconcilers only gather and write; what the status says is decided here.
import type { Condition } from '../api/v1alpha1.ts';
import { policySpec } from '../../test/support/builders.ts';
import type { Assessment, TargetOutcome } from './assess.ts';
import { baselineStatus, converged, driftCondition, enforcedCondition, policyStatus, programmedCondition, recordedDigest, refusedStatus, sidecarCondition, sidecarConfigCondition, suspiciousCondition } from './status.ts';

const NOW = new Date('2026-11-28T00:00:00Z');
const LATER = new Date('2026-11-29T00:00:00Z');
const rendered = { ingresses: [], networkPolicies: [{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'apisec-p-x' } }], configMaps: [], middlewares: [], routes: [], envoyGateway: [], networkSkipped: [], fidelity: {} } as unknown as Assessment['rendered'];
const target = (state: TargetOutcome['state'], kind: 'Ingress' | 'Service' = 'Ingress'): TargetOutcome => ({ ref: { group: '', kind, name: 'x' }, state, message: `${state} x` });

describe('convergence', () => {
  it.each([
    ['same digest, same generation', { appliedDigest: 'd1', observedGeneration: 2 }, 'd1', 2, true],
    ['same digest, new generation (the user changed the spec)', { appliedDigest: 'd1', observedGeneration: 1 }, 'd1', 2, false],
    ['other digest (what we want changed, e.g. a Service appeared)', { appliedDigest: 'd0', observedGeneration: 2 }, 'd1', 2, false],
    ['never applied completely', { observedGeneration: 2 }, 'd1', 2, false],
    ['no status yet', undefined, 'd1', 2, false],
  ])('%s → converged %s', (_n, status, digest, generation, want) => {
    expect(converged(status, digest, generation)).toBe(want);
  });

  it.each([
    ['a complete apply records the new digest', 'd1', 'd0', false, 'd1'],
    ['a failed apply keeps the last complete one', 'd1', 'd0', true, 'd0'],
    ['a failed first apply records none', 'd1', undefined, true, undefined],
  ])('%s', (_n, digest, previous, failed, want) => {
    expect(recordedDigest(digest, previous, failed)).toBe(want);
  });
});

describe('driftCondition', () => {
  const drifted = (generation: number): Condition => ({ type: 'Drifted', status: 'True', reason: 'DriftRepaired', message: 'Repaired: Ingress/web x', observedGeneration: generation, lastTransitionTime: '2026-11-01T00:00:00Z' });
  it.each<[string, Condition[] | undefined, number, { description: string; fight: boolean }, Partial<Condition>]>([
    ['no drift, never drifted', undefined, 1, { description: '', fight: false }, { status: 'False', reason: 'NoDrift' }],
    ['drift repaired now', undefined, 1, { description: 'Ingress/web a', fight: false }, { status: 'True', reason: 'DriftRepaired', message: 'Repaired: Ingress/web a' }],
    ['a fight', undefined, 1, { description: 'Ingress/web a', fight: true }, { status: 'True', reason: 'FightDetected' }],
    ['drifted earlier at this generation: still True, same message and time', [drifted(3)], 3, { description: '', fight: false }, { status: 'True', reason: 'DriftRepaired', lastTransitionTime: '2026-11-01T00:00:00Z' }],
    ['drifted at an older generation: False again', [drifted(2)], 3, { description: '', fight: false }, { status: 'False', reason: 'NoDrift', lastTransitionTime: '2026-11-28T00:00:00Z' }],
  ])('%s', (_n, previous, generation, drift, want) => {
    expect(driftCondition(previous, generation, drift, NOW)).toMatchObject(want);
  });
});

describe('enforcedCondition', () => {
  const spec = policySpec({ rateLimit: { requestsPerSecond: 5 } });
  const none: TargetOutcome[] = [];
  const base = { spec, live: [target('Enforced')], missing: none, unsupported: none, conflicted: none, errors: [] as string[], rendered };
  it.each<[string, Partial<typeof base>, string, string]>([
    ['every target live, every write made', {}, 'True', 'Enforced'],
    ['a write failed', { errors: ['PATCH ingresses/web: 403'] }, 'False', 'ApplyFailed'],
    ['Audit mode', { spec: policySpec({ mode: 'Audit' }) }, 'False', 'AuditMode'],
    ['a target is missing', { missing: [target('NotFound')] }, 'False', 'TargetNotFound'],
    ['an unsupported data plane', { unsupported: [target('Unsupported')] }, 'False', 'Unsupported'],
    ['every target lost to an older policy', { live: [], conflicted: [target('Conflicted')] }, 'False', 'Conflicted'],
  ])('%s → %s %s', (_n, over, status, reason) => {
    expect(enforcedCondition({ ...base, ...over })).toMatchObject({ status, reason });
  });
});

describe('programmedCondition (GEP-713)', () => {
  const route = (state: TargetOutcome['state'], name: string): TargetOutcome => ({ ref: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name }, state, message: `${state} ${name}` });
  it.each<[string, TargetOutcome[], string[], Partial<Condition>]>([
    ['every target programmed', [target('Enforced'), route('Enforced', 'r')], [], { status: 'True', reason: 'Programmed', message: 'Programmed on Ingress x, HTTPRoute r' }],
    ['some targets', [target('Enforced'), route('NotProgrammed', 'r')], [], { status: 'True', reason: 'PartiallyProgrammed', message: 'Programmed on Ingress x; not on HTTPRoute r: NotProgrammed r' }],
    ['a route without the filters only', [{ ...route('NotProgrammed', 'r'), reason: 'FilterMissing' }], [], { status: 'False', reason: 'FilterMissing' }],
    ['a route whose Gateway refused the objects', [{ ...route('NotProgrammed', 'r'), reason: 'DataPlaneRejected' }, target('NotFound')], [], { status: 'False', reason: 'DataPlaneRejected' }],
    ['no target found', [target('NotFound')], [], { status: 'False', reason: 'TargetNotFound' }],
    ['a failed write', [target('Enforced')], ['boom'], { status: 'False', reason: 'ApplyFailed', message: 'boom' }],
  ])('%s', (_n, targets, errors, want) => {
    expect(programmedCondition(policySpec(), targets, errors)).toMatchObject(want);
  });

  it('is False in Audit mode', () => {
    expect(programmedCondition(policySpec({ mode: 'Audit' }), [target('Audit')], [])).toMatchObject({ status: 'False', reason: 'AuditMode' });
  });
});

describe('policyStatus', () => {
  const compliance = { controls: [], score: 80, violations: 1 };
  const input = (targets: TargetOutcome[], over: Partial<Parameters<typeof policyStatus>[0]> = {}): Parameters<typeof policyStatus>[0] => ({
    generation: 4,
    previous: undefined,
    spec: policySpec({ rateLimit: { requestsPerSecond: 5 } }),
    assessment: { targets, ingresses: [], services: [], rendered, compliance },
    errors: [],
    baseline: { effective: policySpec(), violations: [], provenance: [], conflicts: [], names: [] },
    now: NOW,
    ...over,
  });

  it('is deterministic: the same input at a later time gives an identical status', () => {
    const first = policyStatus(input([target('Enforced')]));
    expect(policyStatus(input([target('Enforced')], { previous: first, now: LATER }))).toEqual(first);
  });

  it('a loosened baseline adds its violations and a WithinBaseline=False condition', () => {
    const s = policyStatus(input([target('Enforced')], { baseline: { effective: policySpec(), violations: [{ baseline: 'floor', field: 'rateLimit.rate', message: 'above 10' }], provenance: [], conflicts: [], names: ['floor'] } }));
    expect(s.violations).toBe(2);
    expect(s.conditions?.find((c) => c.type === 'WithinBaseline')).toMatchObject({ status: 'False', reason: 'LoosensBaseline' });
  });

  it('every target conflicted: not Accepted, and Conflicted names them', () => {
    const s = policyStatus(input([target('Conflicted')]));
    expect(s.conditions?.find((c) => c.type === 'Accepted')).toMatchObject({ status: 'False', reason: 'Conflicted' });
    expect(s.conditions?.find((c) => c.type === 'Conflicted')).toMatchObject({ status: 'True' });
  });

  it('a refused spec keeps the rest of the status and says why in three conditions', () => {
    const before = policyStatus(input([target('Enforced')]));
    const s = refusedStatus(before, { generation: 5, reason: 'InvalidSpec', message: 'spec.rateLimit: bad', now: LATER });
    expect(s.score).toBe(before.score);
    expect(s.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Accepted=False/Invalid', 'Enforced=False/InvalidSpec', 'Programmed=False/Invalid', 'Compliant=Unknown/InvalidSpec']);
  });
});

describe('baselineStatus', () => {
  it.each<[string, Parameters<typeof baselineStatus>[0], string[]]>([
    ['selects nothing', { generation: 1, previous: undefined, tally: { selected: 0, policies: 0, violations: 0, conflicts: [] }, now: NOW }, ['Ready=False/SelectsNothing']],
    ['selects, with a conflict', { generation: 1, previous: undefined, tally: { selected: 2, policies: 3, violations: 1, conflicts: ['a vs b'] }, now: NOW }, ['Ready=True/Selecting', 'Conflicted=True/ConflictingBaselines']],
    ['invalid spec', { generation: 1, previous: undefined, tally: undefined, invalid: 'bad selector', now: NOW }, ['Ready=False/InvalidSpec']],
    [
      'protects, with an unprotectable Ingress',
      { generation: 1, previous: undefined, tally: { selected: 1, policies: 0, violations: 0, conflicts: [] }, protection: { protected: 2, unprotectable: ['ns/t: Traefik'] }, now: NOW },
      ['Ready=True/Selecting', 'Protecting=False/Unprotectable'],
    ],
  ])('%s', (_n, input, conds) => {
    const s = baselineStatus(input);
    expect(s.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(conds);
    if (input.protection) expect(s).toMatchObject({ protectedAPIs: 2, unprotectable: 1 });
  });
});

describe('suspiciousCondition', () => {
  const report = (at: string, note = '25 failed authentications from 10.0.0.7 within 60s'): { at: string; note: string } => ({ at, note });
  const was = (status: 'True' | 'False'): Condition[] => [{ type: 'SuspiciousActivity', status, reason: 'x', message: 'x', observedGeneration: 1, lastTransitionTime: '2026-11-27T00:00:00Z' }];
  it.each<[string, { at: string; note: string }[], Condition[] | undefined, string | undefined, number | undefined]>([
    ['never reported: no condition', [], undefined, undefined, undefined],
    ['a report 10 minutes ago: True until it is an hour old', [report('2026-11-27T23:50:00Z')], undefined, 'True/RepeatedAuthenticationFailures', 50 * 60_000],
    ['the latest of several counts, and they are counted', [report('2026-11-27T23:20:00Z', 'old'), report('2026-11-27T23:55:00Z', 'new')], undefined, 'True/RepeatedAuthenticationFailures', 55 * 60_000],
    ['reports older than an hour, condition was True: False', [report('2026-11-27T22:00:00Z')], was('True'), 'False/NoRecentReports', undefined],
    ['reports older than an hour and no condition before: none', [report('2026-11-27T22:00:00Z')], undefined, undefined, undefined],
  ])('%s', (_n, events, previous, want, recheck) => {
    const out = suspiciousCondition(events, previous, NOW);
    expect(out.condition ? `${out.condition.status}/${out.condition.reason}` : undefined).toBe(want);
    expect(out.recheckInMs).toBe(recheck);
  });

  it('names the latest report and how many there were', () => {
    const out = suspiciousCondition([report('2026-11-27T23:20:00Z', 'old'), report('2026-11-27T23:55:00Z', 'new')], undefined, NOW);
    expect(out.condition?.message).toBe('The apisec guard reported at 2026-11-27T23:55:00Z: new (2 reports in the last hour)');
  });
});

describe('SidecarInjected', () => {
  it('names the opted-in pods without the sidecar, and says True when there are none', () => {
    expect(sidecarCondition({ expected: 3, missing: ['orders-a', 'orders-b'] })).toMatchObject({ type: 'SidecarInjected', status: 'False', reason: 'PodsWithoutSidecar' });
    expect(sidecarCondition({ expected: 3, missing: ['orders-a', 'orders-b'] }).message).toMatch(/^2 of 3 opted-in pod\(s\) behind the Services run without the sidecar, so their traffic is not limited by it: orders-a; orders-b\./);
    expect(sidecarCondition({ expected: 0, missing: [] })).toMatchObject({ status: 'True', reason: 'AllPodsInjected' });
  });

  it('SidecarConfigCurrent names the pods to roll after a config change', () => {
    expect(sidecarConfigCondition(['orders-a'])).toMatchObject({ type: 'SidecarConfigCurrent', status: 'False', reason: 'RolloutNeeded', message: expect.stringMatching(/^1 injected pod\(s\) run a sidecar that reads nginx.conf only at start, .*: orders-a\. Roll their workloads/) });
    expect(sidecarConfigCondition([])).toMatchObject({ status: 'True', reason: 'ConfigCurrent' });
    // Reloading sidecars are named, with what is and is not observed; a pod that needs a rollout wins.
    expect(sidecarConfigCondition([], ['orders-b'])).toMatchObject({ status: 'True', reason: 'ReloadsInPlace', message: expect.stringMatching(/^1 injected pod\(s\) started with an older nginx.conf and reload .*not observed per pod\): orders-b$/) });
    expect(sidecarConfigCondition(['orders-a'], ['orders-b'])).toMatchObject({ status: 'False', reason: 'RolloutNeeded' });
  });
});
