// The guard's global rate limit (rateLimit.scope: Global): a GCRA (generic cell rate algorithm) per key,
// kept in the platform's Redis or Valkey so that every guard replica shares one count. The pure part
// turns a policy's limit into the algorithm's parameters and a result into the answer's headers
// (draft-ietf-httpapi-ratelimit-headers: RateLimit-Limit, -Remaining, -Reset, and Retry-After); the
// store (src/guard/store.ts) runs one Lua script per request, atomically, on the store's own clock.
import { createHash } from 'node:crypto';
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';

/** One limit, in microseconds: a request is emitted every `intervalUs`, `burst` may come at once. */
export interface LimitParams {
  intervalUs: number;
  burst: number;
  /** Further sliding windows (rateLimit.windows): at most `requests` per `periodUs`. */
  windows?: { periodUs: number; requests: number }[];
}

const PERIOD_US = { Minute: 60e6, Hour: 3600e6, Day: 86400e6 } as const;

/** What the store answered for one request. */
export interface CountResult {
  allowed: boolean;
  /** Requests still allowed at once after this one. */
  remaining: number;
  /** Microseconds until this request would have been allowed (0 when allowed). */
  retryAfterUs: number;
  /** Microseconds until the bucket is full again. */
  resetUs: number;
}

export type KeyKind = 'ClientIP' | 'Header' | 'Subject';

/** The parameters of a policy's limit; the burst defaults as Traefik's and the sidecar's do (the per-second rate). */
export function limitParams(rl: NonNullable<ApiSecurityPolicySpec['rateLimit']>): LimitParams {
  const perSecond = rl.requestsPerSecond !== undefined;
  const rate = rl.requestsPerSecond ?? rl.requestsPerMinute ?? 1;
  const intervalUs = Math.max(1, Math.round((perSecond ? 1e6 : 60e6) / rate));
  const windows = (rl.windows ?? []).map((w) => ({ periodUs: PERIOD_US[w.period], requests: w.requests }));
  return { intervalUs, burst: Math.max(1, rl.burst ?? (perSecond ? rate : Math.ceil(rate / 60))), ...(windows.length ? { windows } : {}) };
}

/**
 * The store key of one client of one policy: the header value or address is hashed, so neither its
 * length nor its bytes reach the store; the policy and the limit's parameters are part of it, so a changed
 * limit starts afresh.
 */
export function storeKey(policy: string, kind: KeyKind, value: string, p: LimitParams): string {
  const client = createHash('sha256').update(value).digest('base64url').slice(0, 22);
  const windows = (p.windows ?? []).map((w) => `${w.requests}/${w.periodUs}`).join(',');
  return `apisec:rl:${policy}:${p.intervalUs}:${p.burst}:${windows}:${kind}:${client}`;
}

/** The request a limit counts: its headers, the client address, and the identity the guard verified (if any). */
export interface Counted {
  headers: Record<string, string | string[] | undefined>;
  client: string;
  subject?: string | undefined;
}

/** The value a request is counted by, or undefined when the request has none (a Header key without the header). */
export function keyValue(rl: NonNullable<ApiSecurityPolicySpec['rateLimit']>, { headers, client, subject }: Counted): string | undefined {
  if (rl.key === 'Subject') return subject;
  if (rl.key !== 'Header') return client;
  const v = headers[(rl.header ?? '').toLowerCase()];
  return (Array.isArray(v) ? v.join(',') : v) ?? undefined;
}

const seconds = (us: number): string => String(Math.max(0, Math.ceil(us / 1e6)));

/** The answer's headers: RateLimit-* always, Retry-After when limited. */
export function limitHeaders(p: LimitParams, r: CountResult): Record<string, string> {
  const h: Record<string, string> = { 'RateLimit-Limit': String(p.burst), 'RateLimit-Remaining': String(Math.max(0, r.remaining)), 'RateLimit-Reset': seconds(r.resetUs) };
  if (!r.allowed) h['Retry-After'] = String(Math.max(1, Math.ceil(r.retryAfterUs / 1e6)));
  return h;
}

/**
 * GCRA in one script (KEYS[1] the key; ARGV interval in µs, burst, the number of windows, then each
 * window's period in µs and requests). The theoretical arrival time (tat) is kept in µs on the store's
 * clock (TIME), so the guards' clocks do not matter; the key expires when the bucket is full again. Each
 * window is a sliding-window counter: this period's count plus the previous one's, weighted by how much
 * of it the window still covers; its keys (KEYS[1]:period:slot) expire after two periods. Nothing is
 * counted unless every limit allows the request. Returns {allowed, remaining, retry after µs, reset µs}.
 */
export const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then
  return {0, 0, ahead - tolerance, ahead}
end
local slots = {}
for i = 1, tonumber(ARGV[3] or '0') do
  local period, limit = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local slot = math.floor(now / period)
  local into = now - slot * period
  local cur = KEYS[1] .. ':' .. string.format('%.0f', period) .. ':' .. string.format('%.0f', slot)
  local prev = KEYS[1] .. ':' .. string.format('%.0f', period) .. ':' .. string.format('%.0f', slot - 1)
  local counted = tonumber(redis.call('GET', prev) or '0') * (period - into) / period + tonumber(redis.call('GET', cur) or '0')
  if counted + 1 > limit then
    return {0, 0, period - into, period - into}
  end
  slots[i] = {cur, period}
end
for _, s in ipairs(slots) do
  redis.call('INCR', s[1])
  redis.call('PEXPIRE', s[1], math.ceil(2 * s[2] / 1000))
end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000))
return {1, math.floor((tolerance - (next - now)) / interval) + 1, 0, next - now}
`;

/** The store's array answer as a CountResult. */
export function countResult(reply: unknown): CountResult {
  const [allowed, remaining, retryAfterUs, resetUs] = (Array.isArray(reply) ? reply : []).map(Number) as [number?, number?, number?, number?];
  return { allowed: allowed === 1, remaining: remaining ?? 0, retryAfterUs: retryAfterUs ?? 0, resetUs: resetUs ?? 0 };
}
