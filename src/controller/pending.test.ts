import { PendingWrites } from './pending.ts';

const obj = (rv: string) => ({ metadata: { name: 'x', resourceVersion: rv } });

describe('PendingWrites', () => {
  it('is behind while the cache still holds the version before the write, and forgets once it moved on', () => {
    const p = new PendingWrites(() => 0);
    p.wrote('k', '1', '2');
    expect(p.behind('k', obj('1'))).toBe(true);
    expect(p.behind('k', obj('2'))).toBe(false);
    expect(p.size).toBe(0);
  });

  it('drops writes older than a minute, oldest first, and a rewrite counts from its own time', () => {
    let now = 0;
    const p = new PendingWrites(() => now);
    p.wrote('a', '1', '2');
    now = 30_000;
    p.wrote('b', '1', '2');
    now = 40_000;
    p.wrote('a', '2', '3'); // a is now the newest entry
    now = 90_500; // b (written at 30 s) is past the minute, a (rewritten at 40 s) is not
    expect(p.behind('a', obj('2'))).toBe(true);
    expect(p.behind('b', obj('1'))).toBe(false);
    expect(p.size).toBe(1);
    now = 100_500;
    expect(p.behind('a', obj('2'))).toBe(false);
    expect(p.size).toBe(0);
  });
});
