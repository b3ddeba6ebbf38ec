// The one clock of the operator: wall time and timers behind one interface, so a test moves time by
// hand (test/support/clock.ts) instead of patching Date.now or waiting.

export interface Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Calls fn after ms; the timer never keeps the process alive. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The clock's time as a Date (for condition timestamps). */
export const dateOf = (clock: Clock): Date => new Date(clock.now());
