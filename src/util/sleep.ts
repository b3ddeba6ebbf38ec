// The one abort-aware sleep of the operator. Loops that wait on a long-lived signal (an informer's or a
// controller's lifetime) call it thousands of times, so it must leave no listener behind when the timer
// fires, or every call leaks one (MaxListenersExceededWarning after an hour, then unbounded growth).

/** Resolves after ms, or at once when signal aborts; leaves neither a timer nor a listener behind. */
export function sleep(ms: number, signal?: AbortSignal, opts: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (opts.unref) timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}
