// Verified tokens, remembered so a client that sends the same bearer token again is not verified again
// (a signature check costs far more than the rest of a decision). An entry is used only by the same
// policy settings (issuer, audiences, key source) and lives until the token's exp (plus the skew the
// verification allowed) or maxAgeMs, whichever is first: a key withdrawn at the provider stops being
// honoured within maxAgeMs. Bounded: the oldest entry goes first.
import type { JWTPayload } from 'jose';
import { ExpiringMap } from '../util/expiring-map.ts';

export class TokenCache {
  private readonly entries: ExpiringMap<JWTPayload>;
  private readonly maxAgeMs: number;

  constructor(opts: { maxEntries?: number; maxAgeMs?: number } = {}) {
    this.entries = new ExpiringMap(opts.maxEntries ?? 10_000);
    this.maxAgeMs = opts.maxAgeMs ?? 60_000;
  }

  get(scope: string, token: string, now: number): JWTPayload | undefined {
    return this.entries.get(`${scope}\n${token}`, now);
  }

  /** `expiresAt`: the token's exp plus the allowed skew, in ms. */
  set(scope: string, token: string, payload: JWTPayload, { now, expiresAt }: { now: number; expiresAt: number }): void {
    this.entries.set(`${scope}\n${token}`, payload, Math.min(expiresAt, now + this.maxAgeMs));
  }

  get size(): number {
    return this.entries.size;
  }
}
