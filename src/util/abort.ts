// One linked abort signal: aborts with any parent or after a timeout, and dispose() removes its listeners
// and timer at once. AbortSignal.any() would do the first half, but it leaves the dependent signal to
// the garbage collector, and loops that link to a process-long signal thousands of times need the
// listener gone when the round ends (as src/util/sleep.ts does for its timer).

/** A signal that aborts with any parent or after timeoutMs; dispose() clears the timer and listeners. */
export function linked(parents: (AbortSignal | undefined)[], timeoutMs?: number): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const onAbort = (): void => ctl.abort();
  const live = parents.filter((p): p is AbortSignal => p !== undefined);
  for (const p of live) {
    if (p.aborted) ctl.abort();
    else p.addEventListener('abort', onAbort, { once: true });
  }
  const timer = timeoutMs === undefined ? undefined : setTimeout(onAbort, timeoutMs);
  return {
    signal: ctl.signal,
    dispose: (): void => {
      clearTimeout(timer);
      for (const p of live) p.removeEventListener('abort', onAbort);
    },
  };
}
