import { Writable } from 'node:stream';
import { createLogger } from './logger.ts';

describe('createLogger', () => {
  it('escapes control characters and clips long strings in messages and fields', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done): void {
        lines.push(chunk.toString());
        done();
      },
    });
    createLogger('info', sink).info({ ingressClass: 'x\u009b2J\u202e', long: 'y'.repeat(10_000), n: 3 }, 'Saw class \u009b31m');
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line.ingressClass).toBe('x\\u009b2J\\u202e');
    expect(String(line.long)).toHaveLength(4096);
    expect(line.n).toBe(3);
    expect(line.msg).toBe('Saw class \\u009b31m');
    expect(line.component).toBe('api-security-operator');
  });
});
