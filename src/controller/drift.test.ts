// The repair budget that tells drift from a fight: repairs counted per key in a sliding window, and a
// pause said once per window, whatever the pace of the other writer.
import { RepairBudget } from './drift.ts';

describe('RepairBudget', () => {
  it('allows max repairs in the window, then refuses until they age out', () => {
    let now = 0;
    const b = new RepairBudget(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(b.allows('ns/p')).toBe(true);
      b.record('ns/p');
    }
    expect(b.allows('ns/p')).toBe(false);
    now = 60_001;
    expect(b.allows('ns/p')).toBe(true);
    expect(b.size).toBe(0);
  });

  it('says a pause once per window, and again after it', () => {
    let now = 0;
    const b = new RepairBudget(3, 60_000, () => now);
    expect(b.firstPause('ns/p')).toBe(true);
    for (let i = 0; i < 50; i++) {
      now += 1000;
      expect(b.firstPause('ns/p')).toBe(now >= 60_000);
    }
    expect(b.firstPause('ns/q')).toBe(true);
    b.forget('ns/q');
    expect(b.firstPause('ns/q')).toBe(true);
  });
});
