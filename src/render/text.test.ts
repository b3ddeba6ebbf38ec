import { inert, inertDeep } from './text.ts';

describe('inert', () => {
  it.each([
    ['plain text', 'plain text'],
    ['\u001b[2Jclear', '\\u001b[2Jclear'],
    ['bell\u0007', 'bell\\u0007'],
    ['c1 \u009b31m', 'c1 \\u009b31m'],
    ['rtl \u202eevil', 'rtl \\u202eevil'],
    ['keeps\nlines\tand tabs', 'keeps\nlines\tand tabs'],
  ])('%j → %j', (input, expected) => expect(inert(input, 100)).toBe(expected));

  it('one line: newlines escaped too', () => expect(inert('a\nb', 10, true)).toBe('a\\u000ab'));
  it('clips to the bound with an ellipsis', () => {
    expect(inert('x'.repeat(300_000), 1024)).toHaveLength(1024);
    expect(inert('abcdef', 4)).toBe('abc…');
  });
  it('reaches every string of a value', () => expect(inertDeep({ a: ['\u001b'], b: 1, c: { d: '\u0007' } })).toEqual({ a: ['\\u001b'], b: 1, c: { d: '\\u0007' } }));
});
