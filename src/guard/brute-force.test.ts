import { FailureWindow } from './brute-force.ts';

describe('FailureWindow', () => {
  it('reports a client once when it crosses the threshold within the window, again in a later window', () => {
    const w = new FailureWindow({ threshold: 3, windowMs: 1000 });
    expect(w.fail('ns/p', '10.0.0.1', 0)).toBeUndefined();
    expect(w.fail('ns/p', '10.0.0.1', 10)).toBeUndefined();
    expect(w.fail('ns/p', '10.0.0.2', 20)).toBeUndefined();
    expect(w.fail('ns/p', '10.0.0.1', 30)).toEqual({ policy: 'ns/p', client: '10.0.0.1', failures: 3, windowMs: 1000 });
    expect(w.fail('ns/p', '10.0.0.1', 40)).toBeUndefined();
    for (const t of [1100, 1200]) expect(w.fail('ns/p', '10.0.0.1', t)).toBeUndefined();
    expect(w.fail('ns/p', '10.0.0.1', 1300)).toMatchObject({ failures: 3 });
  });

  it('stays bounded whatever the number of clients', () => {
    const w = new FailureWindow({ threshold: 3, maxEntries: 100 });
    for (let i = 0; i < 1000; i++) w.fail('ns/p', `10.0.${i >> 8}.${i & 255}`, i);
    expect(w.size).toBe(100);
  });
});
