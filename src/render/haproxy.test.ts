import type { ApiSecurityPolicySpec, ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { originRegex, renderHaproxy } from './haproxy.ts';
import { policySpec, type SpecFragment } from '../../test/support/builders.ts';

const spec = (s: SpecFragment): ApiSecurityPolicySpec => policySpec(s, { kind: 'Ingress', name: 'x' });
const h = (a: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(a).map(([k, v]) => [`haproxy.org/${k}`, v]));

describe('renderHaproxy', () => {
  it.each([
    { name: 'https with hsts', s: { tls: { httpsOnly: true, hsts: { maxAgeSeconds: 600, includeSubDomains: true } } }, a: { 'ssl-redirect': 'true', 'ssl-redirect-code': '301', 'response-set-header': 'Strict-Transport-Security "max-age=600; includeSubDomains"' }, f: { HTTPSOnly: 'Approximated' } },
    { name: 'rps limit answers 429', s: { rateLimit: { requestsPerSecond: 10 } }, a: { 'rate-limit-requests': '10', 'rate-limit-period': '1s', 'rate-limit-status-code': '429' }, f: { RateLimit: 'Approximated' } },
    { name: 'rpm limit and connections', s: { rateLimit: { requestsPerMinute: 600, maxConnections: 5 } }, a: { 'rate-limit-requests': '600', 'rate-limit-period': '1m', 'rate-limit-status-code': '429', 'pod-maxconn': '5' }, f: { RateLimit: 'Approximated' } },
    { name: 'allow and deny lists', s: { ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16', '10.2.0.0/16'] } }, a: { 'allow-list': '10.0.0.0/8', 'deny-list': '10.1.0.0/16, 10.2.0.0/16' }, f: { IPAccess: 'Exact' } },
    { name: 'one origin', s: { cors: { allowOrigins: ['https://a.example.com'], allowMethods: ['GET'] } }, a: { 'cors-enable': 'true', 'cors-allow-origin': 'https://a.example.com', 'cors-allow-methods': 'GET', 'cors-allow-credentials': 'false', 'cors-max-age': '600s' }, f: { CORS: 'Exact' } },
    { name: 'mtls is controller-wide', s: { authentication: { mtls: { caSecretRef: 'ca' } } }, a: {}, f: { Authentication: 'Unsupported' } },
    { name: 'external auth', s: { authentication: { external: { authURL: 'http://auth.local/check' } } }, a: {}, f: { Authentication: 'Unsupported' } },
    { name: 'limits and waf', s: { requestLimits: { maxBodySize: '1Mi' }, waf: { enabled: true } }, a: {}, f: { RequestLimits: 'Unsupported', WAF: 'Unsupported' } },
  ] as { name: string; s: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>; a: Record<string, string>; f: Record<string, string> }[])('$name', ({ s, a, f }) => {
    const out = renderHaproxy(spec(s));
    expect(out.annotations).toEqual(h(a));
    expect(Object.fromEntries(Object.entries(out.fidelity).map(([k, v]) => [k, v.fidelity]))).toEqual(f);
    expect(Object.keys(out.annotations).some((k) => k.includes('snippet'))).toBe(false);
  });

  it('matches several origins, and wildcard subdomains, with one anchored regex', () => {
    const re = new RegExp(originRegex(['https://a.example.com', 'https://*.shop.example.com:8443']));
    expect(re.test('https://a.example.com')).toBe(true);
    expect(re.test('https://eu.shop.example.com:8443')).toBe(true);
    expect(re.test('https://aXexample.com')).toBe(false);
    expect(re.test('https://a.example.com.evil.com')).toBe(false);
    const out = renderHaproxy(spec({ cors: { allowOrigins: ['https://a.example.com', 'https://b.example.com'] } }));
    expect(out.annotations['haproxy.org/cors-allow-origin']).toBe('^(https://a\\.example\\.com|https://b\\.example\\.com)$');
  });
});
