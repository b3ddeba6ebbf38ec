import { getEventListeners } from 'node:events';
import { sleep } from './sleep.ts';

describe('sleep', () => {
  it('leaves no abort listener behind when the timer fires', async () => {
    const ctl = new AbortController();
    for (let i = 0; i < 1000; i++) await sleep(0, ctl.signal);
    expect(getEventListeners(ctl.signal, 'abort')).toHaveLength(0);
  });

  it('ends early when the signal aborts, and at once when it already has', async () => {
    const ctl = new AbortController();
    const slept = sleep(60_000, ctl.signal);
    ctl.abort();
    await slept;
    await sleep(60_000, ctl.signal);
    expect(getEventListeners(ctl.signal, 'abort')).toHaveLength(0);
  }, 5_000);
});
