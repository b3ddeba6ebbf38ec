import { BaselineFloors } from '../api/cluster-v1alpha1.ts';
import { ApiSecurityPolicySpec, parseSpec } from '../api/v1alpha1.ts';
import { HIDDEN_HOST_URLS } from '../../test/support/outbound.ts';
import { applyBaselines } from './baseline.ts';
import { assertOutboundURLs, isAllowedHostEntry, OutboundURLError, outboundRefusals } from './outbound.ts';

const valid = (auth: unknown): ApiSecurityPolicySpec => ApiSecurityPolicySpec.parse({ targetRefs: [{ group: '', kind: 'Service', name: 'api' }], authentication: auth });
/** A spec as it would reach the pure check if the schema had let it through (defence in depth). */
const raw = (authURL: string): ApiSecurityPolicySpec => {
  const s = valid({ external: { authURL: 'http://authz.example.com/check' } });
  s.authentication = { external: { authURL } };
  return s;
};


describe('outbound URLs at the schema (the CRD says the same in CEL)', () => {
  it.each(HIDDEN_HOST_URLS)('%s is refused', (url) => {
    const res = parseSpec({ targetRefs: [{ group: '', kind: 'Service', name: 'api' }], authentication: { external: { authURL: url } } });
    expect(res.ok).toBe(false);
  });

  it.each(['http://authz.auth.svc.cluster.local/check', 'http://127.0.0.1:9000/check', 'https://10.0.0.5/check', 'http://a1.example.com/'])('%s is admitted (the operator decides)', (url) => {
    expect(parseSpec({ targetRefs: [{ group: '', kind: 'Service', name: 'api' }], authentication: { external: { authURL: url } } }).ok).toBe(true);
  });

  it('covers signinURL, issuerURL and jwksURI too', () => {
    const target = { targetRefs: [{ group: '', kind: 'Service', name: 'api' }] };
    expect(parseSpec({ ...target, authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'http://a.example.com/', signinURL: 'http://0x7f000001/' } } }).ok).toBe(false);
    expect(parseSpec({ ...target, authentication: { oidc: { issuerURL: 'https://169.254.169.254', authURL: 'http://a.example.com/' } } }).ok).toBe(false);
    expect(parseSpec({ ...target, authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://kubernetes.default.svc/openid/v1/jwks', authURL: 'http://a.example.com/' } } }).ok).toBe(false);
  });
});

describe('outboundRefusals (WHATWG-normalised hosts, allow-lists)', () => {
  it.each(HIDDEN_HOST_URLS.filter((u) => !['http://[::1]/', 'http://[0:0:0:0:0:0:0:1]/'].includes(u)))('%s is refused even when the operator allows that host', (url) => {
    const host = new URL(url).hostname;
    expect(outboundRefusals(raw(url), [host.replace(/^\[|\]$/g, ''), '*.example.com'])).toHaveLength(1);
  });

  it('IPv6 loopback is refused unless listed exactly', () => {
    expect(outboundRefusals(raw('http://[0:0:0:0:0:0:0:1]/'), [])[0]).toContain('loopback address [::1]');
    expect(outboundRefusals(raw('http://[::1]/'), ['::1'])).toEqual([]);
  });

  it('names the address a numeric host hides', () => {
    expect(outboundRefusals(raw('http://2852039166/'), [])[0]).toContain('169.254.169.254');
    expect(outboundRefusals(raw('http://0x7f000001/'), ['127.0.0.1'])[0]).toContain('127.0.0.1');
  });

  it.each(['http://127.0.0.1:10246/configuration/backends', 'http://10.0.0.5/check', 'http://localhost:8080/', 'http://api.localhost/'])('%s is refused by default', (url) => {
    expect(outboundRefusals(raw(url), [])).toHaveLength(1);
  });

  it('an exact allow-list entry admits an address or loopback name; a wildcard never does', () => {
    expect(outboundRefusals(raw('http://127.0.0.1:9000/check'), ['127.0.0.1'])).toEqual([]);
    expect(outboundRefusals(raw('http://localhost:9000/check'), ['localhost'])).toEqual([]);
    expect(outboundRefusals(raw('http://127.0.0.2:9000/check'), ['127.0.0.1'])).toHaveLength(1);
    expect(outboundRefusals(raw('http://a.localhost/'), ['*.localhost'])).toHaveLength(1);
  });

  it('with an allow-list, only its hosts; *.suffix matches the names below it', () => {
    const allowed = ['*.auth.svc.cluster.local', 'login.example.com'];
    expect(outboundRefusals(raw('http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth'), allowed)).toEqual([]);
    expect(outboundRefusals(raw('http://login.example.com/'), allowed)).toEqual([]);
    expect(outboundRefusals(raw('http://victim.tenant-b.svc.cluster.local:8080/admin'), allowed)[0]).toContain('not among the allowed auth hosts');
    expect(outboundRefusals(raw('http://auth.svc.cluster.local/'), allowed)).toHaveLength(1);
    expect(outboundRefusals(raw('http://evil-login.example.com/'), allowed)).toHaveLength(1);
  });

  it('without an allow-list, any DNS name that is not the API server or loopback', () => {
    expect(outboundRefusals(raw('http://victim.tenant-b.svc.cluster.local:8080/admin'), [])).toEqual([]);
  });

  it('signinURL: only on the auth endpoint host or an allowed host (no open redirect)', () => {
    const oidc = (signinURL: string): ApiSecurityPolicySpec =>
      valid({ oidc: { issuerURL: 'https://id.example.com', authURL: 'https://auth.example.com/oauth2/auth', signinURL } });
    expect(outboundRefusals(oidc('https://auth.example.com/oauth2/start'), [])).toEqual([]);
    expect(outboundRefusals(oidc('https://evil.example.net/phish'), [])[0]).toMatch(/signinURL .* neither the auth endpoint's host/);
    expect(outboundRefusals(oidc('https://login.example.com/start'), ['auth.example.com', 'login.example.com'])).toEqual([]);
    expect(outboundRefusals(oidc('https://evil.example.net/phish'), ['auth.example.com'])).toHaveLength(1);
  });

  it('jwksURI and issuerURL get the address refusals, not the allow-list', () => {
    const jwt = valid({ jwt: { issuer: 'https://id.example.com', jwksURI: 'https://keys.example.org/jwks', authURL: 'http://authz.example.com/v' } });
    expect(outboundRefusals(jwt, ['authz.example.com'])).toEqual([]);
    jwt.authentication = { jwt: { ...jwt.authentication!.jwt!, jwksURI: 'https://127.0.0.1/jwks' } };
    expect(outboundRefusals(jwt, ['authz.example.com'])[0]).toContain('jwksURI');
  });

  it('throws a terminal error with its own reason', () => {
    expect(() => assertOutboundURLs(raw('http://127.0.0.1/'), [])).toThrow(OutboundURLError);
    try {
      assertOutboundURLs(raw('http://127.0.0.1/'), []);
    } catch (err) {
      expect((err as OutboundURLError).reason).toBe('OutboundURLRefused');
    }
  });

  it('mTLS has no outbound URL', () => {
    expect(outboundRefusals(valid({ mtls: { caSecretRef: 'ca' } }), ['x.example.com'])).toEqual([]);
  });
});

describe('allow-list entries', () => {
  it.each([
    ['auth.example.com', true],
    ['*.auth.svc.cluster.local', true],
    ['127.0.0.1', true],
    ['::1', true],
    ['0x7f000001', false],
    ['127.1', false],
    ['Auth.Example.com', false],
    ['*.127.0.0.1', false],
    ['', false],
    ['a b', false],
  ] as const)('%s → %s', (entry, ok) => {
    expect(isAllowedHostEntry(entry)).toBe(ok);
  });

  it('baselines add their hosts (union over the selecting baselines)', () => {
    const b = (name: string, hosts: string[]) => ({ name, floors: BaselineFloors.parse({ authHosts: hosts }) });
    const res = applyBaselines(raw('http://authz.example.com/'), 'p', [b('one', ['a.example.com']), b('two', ['*.auth.svc.cluster.local', 'a.example.com'])]);
    expect(res.authHosts).toEqual(['a.example.com', '*.auth.svc.cluster.local']);
    expect(applyBaselines(raw('http://authz.example.com/'), 'p', []).authHosts).toBeUndefined();
  });
});
