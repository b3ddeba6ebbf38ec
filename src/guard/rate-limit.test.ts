import { parseSpec } from '../api/v1alpha1.ts';
import { countResult, keyValue, limitHeaders, limitParams, storeKey } from './rate-limit.ts';
import { StoreReports } from './limit-check.ts';

const limit = (rl: Record<string, unknown>): NonNullable<ReturnType<typeof rate>> => rate(rl)!;
function rate(rl: Record<string, unknown>) {
  const p = parseSpec({ targetRefs: [{ group: '', kind: 'Service', name: 'api' }], rateLimit: rl });
  if (!p.ok) throw new Error(p.message);
  return p.spec.rateLimit;
}

describe('guard rate limit (pure part)', () => {
  it.each([
    [{ requestsPerSecond: 20 }, { intervalUs: 50_000, burst: 20 }],
    [{ requestsPerSecond: 20, burst: 45 }, { intervalUs: 50_000, burst: 45 }],
    [{ requestsPerMinute: 6, burst: 40 }, { intervalUs: 10_000_000, burst: 40 }],
    [{ requestsPerMinute: 600 }, { intervalUs: 100_000, burst: 10 }],
    [{ requestsPerMinute: 30 }, { intervalUs: 2_000_000, burst: 1 }],
    [{ requestsPerSecond: 100000 }, { intervalUs: 10, burst: 100000 }],
    [{ requestsPerSecond: 20, scope: 'Global', windows: [{ requests: 10000, period: 'Day' }, { requests: 600, period: 'Minute' }] }, { intervalUs: 50_000, burst: 20, windows: [{ periodUs: 86400e6, requests: 10000 }, { periodUs: 60e6, requests: 600 }] }],
  ])('limit %j → %j (the burst defaults as Traefik and the sidecar do)', (rl, params) => {
    expect(limitParams(limit(rl))).toEqual(params);
  });

  it('keys by client address, by the header, or by the verified subject (undefined without them)', () => {
    expect(keyValue(limit({ requestsPerSecond: 1 }), { headers: {}, client: '192.0.2.1', subject: 'alice' })).toBe('192.0.2.1');
    const byHeader = limit({ requestsPerSecond: 1, key: 'Header', header: 'X-Client-Id' });
    expect(keyValue(byHeader, { headers: { 'x-client-id': 'acme' }, client: '192.0.2.1' })).toBe('acme');
    expect(keyValue(byHeader, { headers: {}, client: '192.0.2.1' })).toBeUndefined();
    const bySubject = limit({ requestsPerSecond: 1, key: 'Subject', scope: 'Global' });
    expect(keyValue(bySubject, { headers: { 'x-auth-subject': 'forged' }, client: '192.0.2.1', subject: 'alice' })).toBe('alice');
    expect(keyValue(bySubject, { headers: {}, client: '192.0.2.1' })).toBeUndefined();
  });

  it('a store key hashes the client and names the policy and the limit, so a changed limit starts afresh', () => {
    const p = { intervalUs: 50_000, burst: 20 };
    const k = storeKey('ns/api', 'Header', 'x'.repeat(10_000) + '\r\n', p);
    expect(k).toMatch(/^apisec:rl:ns\/api:50000:20::Header:[A-Za-z0-9_-]{22}$/);
    expect(storeKey('ns/api', 'Header', 'a', p)).not.toBe(storeKey('ns/api', 'Header', 'a', { ...p, windows: [{ periodUs: 86400e6, requests: 10000 }] }));
    expect(storeKey('ns/api', 'Header', 'a', p)).not.toBe(storeKey('ns/api', 'Header', 'b', p));
    expect(storeKey('ns/api', 'Header', 'a', p)).not.toBe(storeKey('ns/api', 'Header', 'a', { ...p, burst: 21 }));
  });

  it('answers RateLimit-* always and Retry-After (whole seconds, at least 1) when limited', () => {
    const p = { intervalUs: 10_000_000, burst: 40 };
    expect(limitHeaders(p, { allowed: true, remaining: 39, retryAfterUs: 0, resetUs: 10_000_000 })).toEqual({ 'RateLimit-Limit': '40', 'RateLimit-Remaining': '39', 'RateLimit-Reset': '10' });
    expect(limitHeaders(p, { allowed: false, remaining: 0, retryAfterUs: 1_500_000, resetUs: 400_000_000 })).toEqual({ 'RateLimit-Limit': '40', 'RateLimit-Remaining': '0', 'RateLimit-Reset': '400', 'Retry-After': '2' });
    expect(limitHeaders(p, { allowed: false, remaining: 0, retryAfterUs: 1, resetUs: 1 })['Retry-After']).toBe('1');
  });

  it('reads the script reply; anything malformed is a refusal', () => {
    expect(countResult([1, 3, 0, 500])).toEqual({ allowed: true, remaining: 3, retryAfterUs: 0, resetUs: 500 });
    expect(countResult('nonsense').allowed).toBe(false);
  });
});

describe('StoreReports', () => {
  it('reports a policy once per window, and forgets policies whose window passed', () => {
    const r = new StoreReports(1000);
    expect(r.due('ns/a', 0)).toBe(true);
    expect(r.due('ns/a', 500)).toBe(false);
    expect(r.due('ns/b', 500)).toBe(true);
    expect(r.due('ns/a', 1000)).toBe(true);
  });
});
