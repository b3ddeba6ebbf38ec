// A bounded map whose entries expire: what the caches of remembered checks share (the guard's verified
// tokens, the /metrics filter's reviews). At most maxEntries entries, the oldest written dropped first (a
// Map keeps insertion order, and a rewrite moves the key to the end), so a flood of distinct keys cannot
// grow memory; an entry past its time is gone when next read.

export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  private readonly maxEntries: number;

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  /** The value while `now` is before its expiry; an expired entry is dropped. */
  get(key: string, now: number): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (now >= e.until) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  /** Remembers `value` until the time `until` (ms), as the newest entry. */
  set(key: string, value: V, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}
