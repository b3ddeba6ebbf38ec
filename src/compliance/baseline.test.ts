import { BaselineFloors } from '../api/cluster-v1alpha1.ts';
import type { ApiSecurityPolicySpec, ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { applyBaselines, cidrWithin, matchesSelector, underPrefix, type Baseline } from './baseline.ts';
import { policySpec, type SpecFragment } from '../../test/support/builders.ts';

const spec = (s: SpecFragment): ApiSecurityPolicySpec => policySpec(s, { kind: 'Service', name: 'api' });
const base = (name: string, floors: unknown, creationTimestamp = '2026-01-01T00:00:00Z'): Baseline => ({ name, creationTimestamp, floors: BaselineFloors.parse(floors) });

describe('matchesSelector', () => {
  it.each([
    [{}, { a: '1' }, true],
    [{ matchLabels: { a: '1' } }, { a: '1', b: '2' }, true],
    [{ matchLabels: { a: '1' } }, { a: '2' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] }, { a: '2' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['1'] }] }, {}, false],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, {}, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, { a: '1' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' }, false],
  ] as const)('%j matches %j: %s', (sel, labels, expected) => {
    expect(matchesSelector(labels, sel as never)).toBe(expected);
  });
});

describe('cidrWithin', () => {
  it.each([
    ['10.1.0.0/16', '10.0.0.0/8', true],
    ['10.0.0.0/8', '10.0.0.0/8', true],
    ['10.0.0.0/7', '10.0.0.0/8', false],
    ['11.0.0.0/16', '10.0.0.0/8', false],
    ['2001:db8:1::/48', '2001:db8::/32', true],
    ['2001:db9::/48', '2001:db8::/32', false],
    ['10.0.0.0/16', '2001:db8::/32', false],
    // IPv6 with an embedded IPv4 tail, and compressed forms.
    ['::ffff:10.1.0.0/112', '::ffff:10.0.0.0/104', true],
    ['::ffff:11.1.0.0/112', '::ffff:10.0.0.0/104', false],
    ['2001:db8:0:0::1/128', '2001:db8::/32', true],
    ['2001:0db8::/48', '2001:db8::/32', true],
  ])('%s in %s: %s', (inner, outer, expected) => expect(cidrWithin(inner, outer)).toBe(expected));
});

describe('applyBaselines', () => {
  it('without baselines, the policy is unchanged and nothing is reported', () => {
    const s = spec({ rateLimit: { requestsPerSecond: 5 } });
    expect(applyBaselines(s, 'p', [])).toEqual({ effective: s, violations: [], provenance: [], conflicts: [] });
  });

  it('keeps tighter values and supplies omitted floors, with provenance', () => {
    const r = applyBaselines(spec({ rateLimit: { requestsPerSecond: 5 }, requestLimits: { maxBodySize: '64Ki' } }), 'p', [
      base('floor', { rateLimit: { requestsPerSecond: 100 }, requestLimits: { maxBodySize: '1Mi' }, waf: { enabled: true }, logging: { accessLog: true } }),
    ]);
    expect(r.violations).toEqual([]);
    expect(r.effective.rateLimit?.requestsPerSecond).toBe(5);
    expect(r.effective.requestLimits?.maxBodySize).toBe('64Ki');
    expect(r.effective.waf).toMatchObject({ enabled: true, mode: 'Block' });
    expect(r.provenance).toEqual(
      expect.arrayContaining([
        { field: 'rateLimit.rate', value: '5', source: 'ApiSecurityPolicy/p' },
        { field: 'waf', value: 'Block', source: 'ClusterApiSecurityPolicy/floor' },
        { field: 'logging.accessLog', value: 'true', source: 'ClusterApiSecurityPolicy/floor' },
      ]),
    );
  });

  it.each([
    ['tls.httpsOnly', { tls: { httpsOnly: false } }, { tls: { httpsOnly: true } }, (e: ApiSecurityPolicySpec) => e.tls?.httpsOnly === true],
    ['tls.hsts', { tls: { httpsOnly: true, hsts: { maxAgeSeconds: 60 } } }, { tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000 } } }, (e: ApiSecurityPolicySpec) => e.tls?.hsts?.maxAgeSeconds === 31536000],
    ['rateLimit.rate', { rateLimit: { requestsPerMinute: 60000 } }, { rateLimit: { requestsPerSecond: 100 } }, (e: ApiSecurityPolicySpec) => e.rateLimit?.requestsPerSecond === 100],
    ['rateLimit.burst', { rateLimit: { requestsPerSecond: 10, burst: 500 } }, { rateLimit: { requestsPerSecond: 100, burst: 200 } }, (e: ApiSecurityPolicySpec) => e.rateLimit?.burst === 200],
    ['rateLimit.maxConnections', { rateLimit: { requestsPerSecond: 1, maxConnections: 99 } }, { rateLimit: { requestsPerSecond: 10, maxConnections: 10 } }, (e: ApiSecurityPolicySpec) => e.rateLimit?.maxConnections === 10],
    ['rateLimit.scope', { rateLimit: { requestsPerSecond: 1 } }, { rateLimit: { requestsPerSecond: 10, scope: 'Global' } }, (e: ApiSecurityPolicySpec) => e.rateLimit?.scope === 'Global'],
    ['rateLimit.onStoreUnavailable', { rateLimit: { requestsPerSecond: 1, scope: 'Global', onStoreUnavailable: 'Allow' } }, { rateLimit: { requestsPerSecond: 10, scope: 'Global' } }, (e: ApiSecurityPolicySpec) => e.rateLimit?.onStoreUnavailable === 'Deny'],
    ['requestLimits.maxBodySize', { requestLimits: { maxBodySize: '10Mi' } }, { requestLimits: { maxBodySize: '1Mi' } }, (e: ApiSecurityPolicySpec) => e.requestLimits?.maxBodySize === '1Mi'],
    ['requestLimits.allowedMethods', { requestLimits: { allowedMethods: ['GET', 'DELETE'] } }, { requestLimits: { allowedMethods: ['GET', 'POST'] } }, (e: ApiSecurityPolicySpec) => e.requestLimits?.allowedMethods?.join() === 'GET'],
    ['ipAccess.allow', { ipAccess: { allow: ['0.0.0.0/0'] } }, { ipAccess: { allow: ['10.0.0.0/8'] } }, (e: ApiSecurityPolicySpec) => e.ipAccess?.allow?.join() === '10.0.0.0/8'],
    ['cors.allowCredentials', { cors: { allowOrigins: ['https://a.example.com'], allowCredentials: true } }, { cors: { allowOrigins: ['https://a.example.com'] } }, (e: ApiSecurityPolicySpec) => e.cors?.allowCredentials === false],
    ['cors.allowOrigins', { cors: { allowOrigins: ['*'] } }, { cors: { allowOrigins: ['https://a.example.com'] } }, (e: ApiSecurityPolicySpec) => e.cors?.allowOrigins.join() === 'https://a.example.com'],
    ['waf', { waf: { enabled: true, mode: 'Detect' } }, { waf: { enabled: true, mode: 'Block' } }, (e: ApiSecurityPolicySpec) => e.waf?.mode === 'Block'],
    ['network.defaultDeny', { network: { defaultDeny: false } }, { network: { defaultDeny: true } }, (e: ApiSecurityPolicySpec) => e.network?.defaultDeny === true],
    ['logging.accessLog', { logging: { accessLog: false } }, { logging: { accessLog: true } }, (e: ApiSecurityPolicySpec) => e.logging?.accessLog === true],
  ] as [string, Omit<ApiSecurityPolicySpecInput, 'targetRefs'>, unknown, (e: ApiSecurityPolicySpec) => boolean][])(
    'loosening %s is a violation and the floor is enforced',
    (field, own, floors, enforced) => {
      const r = applyBaselines(spec(own), 'p', [base('floor', floors)]);
      expect(r.violations.map((v) => v.field)).toEqual([field]);
      expect(r.violations[0]?.baseline).toBe('floor');
      expect(enforced(r.effective)).toBe(true);
    },
  );

  it('always denies the baseline ranges, in addition to the policy\'s', () => {
    const r = applyBaselines(spec({ ipAccess: { deny: ['10.9.0.0/16'] } }), 'p', [base('floor', { ipAccess: { deny: ['192.0.2.0/24'] } })]);
    expect(r.violations).toEqual([]);
    expect(r.effective.ipAccess?.deny).toEqual(['10.9.0.0/16', '192.0.2.0/24']);
  });

  it('stacks baselines to the strictest, and reports baselines that cannot both hold', () => {
    const r = applyBaselines(spec({}), 'p', [
      base('b-newer', { rateLimit: { requestsPerSecond: 50 }, authentication: { apiKey: { authURL: 'http://k.local/check' } } }, '2026-02-01T00:00:00Z'),
      base('a-older', { rateLimit: { requestsPerSecond: 100 }, authentication: { external: { authURL: 'http://x.local/check' } } }, '2026-01-01T00:00:00Z'),
    ]);
    expect(r.effective.rateLimit?.requestsPerSecond).toBe(50);
    expect(r.effective.authentication?.external).toBeDefined();
    expect(r.conflicts).toHaveLength(1);
    expect(r.conflicts[0]).toContain('a-older');
  });
});

describe('floors that bind (mode, data planes, peers, auth endpoints, rate-limit key)', () => {
  const net = (allowFrom: unknown[]): Omit<ApiSecurityPolicySpecInput, 'targetRefs'> => ({ network: { defaultDeny: true, allowFrom } as never });

  it('mode Enforce: an Audit policy is a violation and is enforced', () => {
    const r = applyBaselines(spec({ mode: 'Audit' }), 'p', [base('b', { mode: 'Enforce' })]);
    expect(r.effective.mode).toBe('Enforce');
    expect(r.violations.map((v) => v.field)).toEqual(['mode']);
    expect(applyBaselines(spec({ mode: 'Enforce' }), 'p', [base('b', { mode: 'Enforce' })]).violations).toEqual([]);
  });

  it('providers: the data planes every baseline allows', () => {
    expect(applyBaselines(spec({}), 'p', []).providers).toBeUndefined();
    const r = applyBaselines(spec({}), 'p', [base('a', { providers: ['ingress-nginx', 'traefik'] }), base('b', { providers: ['traefik', 'haproxy'] }, '2026-02-01T00:00:00Z')]);
    expect(r.providers).toEqual(['traefik']);
  });

  it('networkPeers: drops a world-open ipBlock and an every-namespace peer, keeps the rest', () => {
    const r = applyBaselines(
      spec(net([{ ipBlock: { cidr: '0.0.0.0/0' } }, { namespaceSelector: {} }, { ipBlock: { cidr: '::/0' } }, { ipBlock: { cidr: '10.1.0.0/16' } }, { namespaceSelector: {}, podSelector: { matchLabels: { role: 'worker' } } }, { ingressController: true }])),
      'p',
      [base('b', { networkPeers: { minIPv4PrefixLength: 8 } })],
    );
    expect(r.violations.map((v) => v.field)).toEqual(['network.allowFrom[0].ipBlock', 'network.allowFrom[1].namespaceSelector', 'network.allowFrom[2].ipBlock']);
    expect(r.effective.network?.allowFrom).toEqual([{ ipBlock: { cidr: '10.1.0.0/16' } }, { namespaceSelector: {}, podSelector: { matchLabels: { role: 'worker' } } }, { ingressController: true }]);
  });

  it('networkPeers: allowAllNamespaces lets an every-namespace peer through', () => {
    const r = applyBaselines(spec(net([{ namespaceSelector: {} }])), 'p', [base('b', { networkPeers: { allowAllNamespaces: true } })]);
    expect(r.violations).toEqual([]);
  });

  it('authEndpoints: an endpoint outside the prefixes is a violation; the floor authentication replaces it, or none', () => {
    const own = spec({ authentication: { external: { authURL: 'http://metadata.example.com/latest' } } });
    const none = applyBaselines(own, 'p', [base('b', { authEndpoints: ['http://authz.auth.svc.cluster.local/'] })]);
    expect(none.violations.map((v) => v.field)).toEqual(['authentication.external.authURL']);
    expect(none.effective.authentication).toBeUndefined();
    const floor = { external: { authURL: 'http://authz.auth.svc.cluster.local/check' } };
    const replaced = applyBaselines(own, 'p', [base('b', { authEndpoints: ['http://authz.auth.svc.cluster.local/'], authentication: floor })]);
    expect(replaced.effective.authentication).toEqual(floor);
    const inside = spec({ authentication: { external: { authURL: 'http://authz.auth.svc.cluster.local/check' } } });
    expect(applyBaselines(inside, 'p', [base('b', { authEndpoints: ['http://authz.auth.svc.cluster.local/'] })]).violations).toEqual([]);
  });

  it.each([
    ['http://a.example.com/x', 'http://a.example.com', true],
    ['http://a.example.com', 'http://a.example.com', true],
    ['http://a.example.com.evil.net/x', 'http://a.example.com', false],
    ['http://a.example.com:9/x', 'http://a.example.com', false],
    ['http://a.example.com/authx', 'http://a.example.com/auth/', false],
    ['http://a.example.com/auth/x', 'http://a.example.com/auth/', true],
  ])('underPrefix(%s, %s) = %s', (url, prefix, expected) => expect(underPrefix(url, prefix)).toBe(expected));

  it('rateLimit.key is fixed by the floor: a Header key under a ClientIP floor is a violation', () => {
    const r = applyBaselines(spec({ rateLimit: { requestsPerSecond: 5, key: 'Header', header: 'X-Client' } }), 'p', [base('b', { rateLimit: { requestsPerSecond: 100 } })]);
    expect(r.violations.map((v) => v.field)).toEqual(['rateLimit.key']);
    expect(r.effective.rateLimit).toMatchObject({ key: 'ClientIP', requestsPerSecond: 5 });
    expect(r.effective.rateLimit?.header).toBeUndefined();
  });
});
