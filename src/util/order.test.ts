import { codeUnitOrder } from './order.ts';

describe('codeUnitOrder', () => {
  it('orders by UTF-16 code units, not by locale (upper case first, accents after z)', () => {
    const words = ['z', 'é', 'B', 'a', 'a-b', 'a1'];
    expect([...words].sort(codeUnitOrder)).toEqual(['B', 'a', 'a-b', 'a1', 'z', 'é']);
    expect([...words].sort((a, b) => a.localeCompare(b, 'en'))).not.toEqual([...words].sort(codeUnitOrder));
  });
});
