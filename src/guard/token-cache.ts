// Verified tokens, remembered so a client that sends the same bearer token again is not verified again
// (a signature check costs far more than the rest of a decision). An entry is used only by the same
// policy settings (issuer, audiences, key source) and lives until the token's exp (plus the skew the
// verification allowed) or maxAgeMs, whichever is first: a key withdrawn at the provider stops being
// honoured within maxAgeMs. Bounded: the oldest entry goes first.
import type { JWTPayload } from 'jose';

export class TokenCache {
  private readonly entries = new Map<string, { payload: JWTPayload; until: number }>();
  private readonly max: number;
  private readonly maxAgeMs: number;

  constructor(opts: { maxEntries?: number; maxAgeMs?: number } = {}) {
    this.max = opts.maxEntries ?? 10_000;
    this.maxAgeMs = opts.maxAgeMs ?? 60_000;
  }

  get(scope: string, token: string, now: number): JWTPayload | undefined {
    const key = `${scope}\n${token}`;
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (now >= e.until) {
      this.entries.delete(key);
      return undefined;
    }
    return e.payload;
  }

  /** `expiresAt`: the token's exp plus the allowed skew, in ms. */
  set(scope: string, token: string, payload: JWTPayload, { now, expiresAt }: { now: number; expiresAt: number }): void {
    const key = `${scope}\n${token}`;
    this.entries.delete(key);
    this.entries.set(key, { payload, until: Math.min(expiresAt, now + this.maxAgeMs) });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}
