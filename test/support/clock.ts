// A manual clock for unit tests: timers fire only when the test advances time.
import type { Clock } from '../../src/util/clock.ts';

export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  readonly cleared: number[] = [];

  constructor(start: number | Date = 1_700_000_000_000) {
    this.time = typeof start === 'number' ? start : start.getTime();
  }

  now = (): number => this.time;

  setTimer = (fn: () => void, ms: number): unknown => {
    const handle = ++this.seq;
    this.timers.set(handle, { at: this.time + ms, fn });
    return handle;
  };

  clearTimer = (handle: unknown): void => {
    this.cleared.push(handle as number);
    this.timers.delete(handle as number);
  };

  /** Fires due timers in time order, moving the clock to each deadline. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = end;
  }
}
