import { STORE_REPORT_WINDOW_MS, storeCondition } from './store-status.ts';

const NOW = new Date('2026-12-03T12:00:00Z');
const at = (msAgo: number): string => new Date(NOW.getTime() - msAgo).toISOString();

describe('storeCondition', () => {
  it('is absent when the guard never reported', () => {
    expect(storeCondition([], undefined, NOW)).toEqual({});
  });

  it('is True while the latest report is within the window, naming it, and says when to look again', () => {
    const out = storeCondition([{ at: at(240_000), note: 'older' }, { at: at(60_000), note: 'latest' }], undefined, NOW);
    expect(out.condition).toMatchObject({ type: 'RateLimitStoreUnavailable', status: 'True', reason: 'GuardReported' });
    expect(out.condition?.message).toContain('latest');
    expect(out.recheckInMs).toBe(STORE_REPORT_WINDOW_MS - 60_000);
  });

  it('makes a forged note inert', () => {
    const out = storeCondition([{ at: at(1000), note: '\u001b[2Jwiped\u202e' }], undefined, NOW);
    expect(out.condition?.message).not.toContain('\u001b');
    expect(out.condition?.message).toContain('\\u001b[2Jwiped\\u202e');
  });

  it('turns False once the reports aged out, only if it was in status before', () => {
    const old = [{ at: at(STORE_REPORT_WINDOW_MS + 1), note: 'x' }];
    expect(storeCondition(old, undefined, NOW)).toEqual({});
    const previous = [{ type: 'RateLimitStoreUnavailable', status: 'True' as const, reason: 'GuardReported', message: '', lastTransitionTime: at(0), observedGeneration: 1 }];
    expect(storeCondition(old, previous, NOW).condition).toMatchObject({ status: 'False', reason: 'NoRecentReports' });
  });
});
