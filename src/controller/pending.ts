// The cache lags our own writes by a watch event. Remembering the resourceVersion an object had
// before our write (and the one the write returned) lets a reconcile tell "the cache has not seen my
// write yet" from "someone changed it", without comparing resourceVersions as numbers (they are opaque).
import type { KubeObject } from '../k8s/resources.ts';

const TTL_MS = 60_000;

export class PendingWrites {
  private readonly writes = new Map<string, { before?: string; after?: string; at: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  wrote(key: string, before: string | undefined, after: string | undefined): void {
    this.prune();
    // Re-inserted, so the map stays in write order (prune stops at the first entry still fresh).
    this.writes.delete(key);
    this.writes.set(key, { before, after, at: this.now() });
  }

  /** True when the cached object (or its absence) is still what preceded our last write to it. */
  behind(key: string, cached: KubeObject | undefined): boolean {
    this.prune();
    const w = this.writes.get(key);
    if (!w) return false;
    const rv = cached?.metadata.resourceVersion;
    if (rv === w.before) return true;
    // The cache has moved past our write (to it, or beyond): nothing to wait for any more.
    this.writes.delete(key);
    return false;
  }

  /** Drops expired entries: the oldest first, stopping at the first one still fresh (O(expired), not O(all)). */
  private prune(): void {
    const cutoff = this.now() - TTL_MS;
    for (const [k, w] of this.writes) {
      if (w.at >= cutoff) break;
      this.writes.delete(k);
    }
  }

  get size(): number {
    return this.writes.size;
  }
}
