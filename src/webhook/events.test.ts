import { pino } from 'pino';
import type { EventNote, Regarding } from '../controller/deps.ts';
import { RefusalEvents } from './events.ts';
import type { ReviewOutcome } from './review.ts';

describe('RefusalEvents', () => {
  it('records one Warning per policy every 10 minutes, whatever the reason, regarding the policy', async () => {
    const recorded: [Regarding, EventNote][] = [];
    let now = 0;
    const events = new RefusalEvents({ record: async (r, e) => void recorded.push([r, e]), log: pino({ level: 'silent' }), now: () => now });
    const refused = (pod: string, reason = 'container app already uses port 8080'): ReviewOutcome => ({ namespace: 'shop', pod, result: 'refused', policy: 'orders', policyUid: 'u-1', reason });
    await events.note(refused('orders-a'));
    await events.note(refused('orders-b'));
    await events.note(refused('orders-c', 'a volume is taken'));
    await events.note({ namespace: 'shop', pod: 'orders-d', result: 'injected', policy: 'orders' });
    expect(recorded).toEqual([
      [{ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'orders', namespace: 'shop', uid: 'u-1' }, expect.objectContaining({ type: 'Warning', reason: 'SidecarRefused', note: expect.stringMatching(/^A pod \(orders-a\) was admitted without the sidecar: container app already uses port 8080\./) })],
    ]);
    await events.note({ ...refused('orders-x'), policy: 'billing' });
    expect(recorded.map(([r]) => r.name)).toEqual(['orders', 'billing']);
    now += 10 * 60_000;
    await events.note(refused('orders-e', 'a volume is taken'));
    expect(recorded).toHaveLength(3);
    expect(recorded[2]![1].note).toContain('a volume is taken');
  });
});
