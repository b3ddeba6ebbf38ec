// Repeated authentication failures from one client against one policy within a window: brute force or
// credential stuffing. Reported once per window per (policy, client); the map is bounded, oldest first
// out, so a flood of addresses cannot grow it.

export interface Suspicion {
  policy: string;
  client: string;
  failures: number;
  windowMs: number;
}

export class FailureWindow {
  private readonly seen = new Map<string, { start: number; failures: number; reported: boolean }>();
  private readonly threshold: number;
  private readonly windowMs: number;
  private readonly maxEntries: number;

  constructor(opts: { threshold?: number; windowMs?: number; maxEntries?: number } = {}) {
    this.threshold = opts.threshold ?? 20;
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /** Counts one failure; returns a Suspicion the first time the client crosses the threshold in a window. */
  fail(policy: string, client: string, now: number): Suspicion | undefined {
    const key = `${policy} ${client}`;
    let e = this.seen.get(key);
    if (!e || now - e.start > this.windowMs) {
      this.seen.delete(key);
      e = { start: now, failures: 0, reported: false };
      this.seen.set(key, e);
      if (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value as string);
    }
    e.failures++;
    if (e.failures < this.threshold || e.reported) return undefined;
    e.reported = true;
    return { policy, client, failures: e.failures, windowMs: this.windowMs };
  }

  get size(): number {
    return this.seen.size;
  }
}
