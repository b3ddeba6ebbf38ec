import type { Condition } from '../api/v1alpha1.ts';
import { mergeConditions, rfc3339, type ConditionInput } from './conditions.ts';

const T0 = '2025-01-01T00:00:00Z';
const now = new Date('2025-06-01T12:34:56.789Z');
const NOW = '2025-06-01T12:34:56Z';

const prev = (type: string, status: Condition['status'], extra: Partial<Condition> = {}): Condition => ({
  type,
  status,
  observedGeneration: 1,
  lastTransitionTime: T0,
  reason: 'Old',
  message: 'old message',
  ...extra,
});

const next = (type: string, status: ConditionInput['status'], reason = 'New', message = 'new message'): ConditionInput => ({ type, status, reason, message });

describe('mergeConditions', () => {
  it.each<{ name: string; previous: Condition[] | undefined; status: ConditionInput['status']; time: string }>([
    { name: 'no previous status', previous: undefined, status: 'True', time: NOW },
    { name: 'previous without this type', previous: [prev('Other', 'True')], status: 'True', time: NOW },
    { name: 'status unchanged', previous: [prev('Ready', 'True')], status: 'True', time: T0 },
    { name: 'True → False', previous: [prev('Ready', 'True')], status: 'False', time: NOW },
    { name: 'False → Unknown', previous: [prev('Ready', 'False')], status: 'Unknown', time: NOW },
    { name: 'Unknown → True', previous: [prev('Ready', 'Unknown')], status: 'True', time: NOW },
  ])('$name → lastTransitionTime $time', ({ previous, status, time }) => {
    const [c] = mergeConditions(previous, [next('Ready', status)], 7, now);
    expect(c).toEqual({ type: 'Ready', status, observedGeneration: 7, lastTransitionTime: time, reason: 'New', message: 'new message' });
  });

  it('takes the new reason, message and generation even when the time is kept', () => {
    const [c] = mergeConditions([prev('Compliant', 'False', { observedGeneration: 2 })], [next('Compliant', 'False', 'ControlsFailing', 'Failing: WAF')], 3, now);
    expect(c).toEqual({ type: 'Compliant', status: 'False', observedGeneration: 3, lastTransitionTime: T0, reason: 'ControlsFailing', message: 'Failing: WAF' });
  });

  it('follows the order of the new conditions and drops types no longer reported', () => {
    const out = mergeConditions([prev('A', 'True'), prev('B', 'True'), prev('Gone', 'True')], [next('B', 'True'), next('A', 'False')], 1, now);
    expect(out.map((c) => [c.type, c.lastTransitionTime])).toEqual([
      ['B', T0],
      ['A', NOW],
    ]);
  });

  it('is idempotent: merging the same input twice gives an identical result', () => {
    const input = [next('Accepted', 'True'), next('Enforced', 'False', 'TargetNotFound', 'Ingress shop not found')];
    const first = mergeConditions(undefined, input, 4, now);
    const second = mergeConditions(first, input, 4, new Date('2030-01-01T00:00:00Z'));
    expect(second).toEqual(first);
  });

  it('caps the message at 32768 characters', () => {
    const [c] = mergeConditions(undefined, [next('X', 'True', 'R', 'm'.repeat(40000))], 1, now);
    expect(c?.message).toHaveLength(32768);
  });
});

describe('rfc3339', () => {
  it.each([
    ['2025-06-01T12:34:56.789Z', '2025-06-01T12:34:56Z'],
    ['2025-06-01T12:34:56.000Z', '2025-06-01T12:34:56Z'],
    ['2024-02-29T23:59:59.999Z', '2024-02-29T23:59:59Z'],
  ])('%s → %s', (iso, expected) => {
    expect(rfc3339(new Date(iso))).toBe(expected);
  });
});
